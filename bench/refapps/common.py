"""The common pattern: FastAPI + SQLAlchemy ORM with a session per request + pydantic `response_model`.

This is how such a service is usually written from the tutorials: mapped classes with a
relationship for the tags, an `AsyncSession` dependency, `session.add()` + `commit()`, and the ORM
object handed to FastAPI to validate against the response model.
"""

from __future__ import annotations

import os
import secrets
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Header, HTTPException, Request
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import JSON, BigInteger, DateTime, ForeignKey, Integer, String, Text, select
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


class Base(DeclarativeBase):
    type_annotation_map = {dict[str, Any]: JSON().with_variant(JSONB(), "postgresql")}


class CaseTag(Base):
    __tablename__ = "case_tags"
    case_id: Mapped[str] = mapped_column(ForeignKey("cases.case_id"), primary_key=True)
    tag: Mapped[str] = mapped_column(String(50), primary_key=True)
    user_id: Mapped[str] = mapped_column(String(128))


class Case(Base):
    __tablename__ = "cases"
    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    case_id: Mapped[str] = mapped_column(String(32), unique=True)
    user_id: Mapped[str] = mapped_column(String(128))
    session_id: Mapped[str | None] = mapped_column(String(128))
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(20))
    severity: Mapped[str] = mapped_column(String(10))
    category: Mapped[str] = mapped_column(String(20))
    metadata_: Mapped[dict[str, Any]] = mapped_column("metadata")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    resolved_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    version: Mapped[int] = mapped_column(Integer)
    message_count: Mapped[int] = mapped_column(Integer, default=0)
    last_activity_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    tag_rows: Mapped[list[CaseTag]] = relationship(lazy="selectin", order_by=CaseTag.tag)

    @property
    def tags(self) -> list[str]:
        return [row.tag for row in self.tag_rows]


class OutboxEvent(Base):
    __tablename__ = "event_outbox"
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    event_id: Mapped[str] = mapped_column(String(36))
    event_type: Mapped[str] = mapped_column(String(100))
    aggregate_type: Mapped[str] = mapped_column(String(50))
    aggregate_id: Mapped[str] = mapped_column(String(64))
    aggregate_version: Mapped[int] = mapped_column(Integer)
    envelope: Mapped[dict[str, Any]] = mapped_column()
    headers: Mapped[dict[str, Any]] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class CaseIn(BaseModel):
    title: str | None = Field(default=None, max_length=200)
    description: str = ""
    severity: str = "medium"
    category: str = "other"
    metadata: dict[str, Any] = Field(default_factory=dict)
    tags: list[str] = Field(default_factory=list)
    session_id: str | None = None


class CaseOut(BaseModel):
    model_config = ConfigDict(from_attributes=True, populate_by_name=True)

    case_id: str
    user_id: str
    session_id: str | None
    title: str
    description: str
    status: str
    severity: str
    category: str
    metadata: dict[str, Any] = Field(validation_alias="metadata_")
    tags: list[str]
    created_at: datetime
    updated_at: datetime
    resolved_at: datetime | None
    version: int
    message_count: int
    last_activity_at: datetime


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    async with request.app.state.sessions() as session:
        yield session


SessionDep = Annotated[AsyncSession, Depends(get_session)]
UserDep = Annotated[str, Header(alias="X-User-ID")]


def create_app() -> FastAPI:
    """`uvicorn --factory bench.refapps.common:create_app`; BENCH_DSN names the database."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        size = int(os.environ.get("BENCH_POOL_SIZE", "20"))
        url = os.environ["BENCH_DSN"].replace("postgresql://", "postgresql+asyncpg://", 1)
        engine = create_async_engine(url, pool_size=size // 2, max_overflow=size - size // 2)
        app.state.sessions = async_sessionmaker(engine, expire_on_commit=False)
        try:
            yield
        finally:
            await engine.dispose()

    app = FastAPI(lifespan=lifespan)

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/api/v1/cases/{case_id}", response_model=CaseOut)
    async def get_case(case_id: str, user_id: UserDep, session: SessionDep) -> Case:
        case = await session.scalar(select(Case).where(Case.case_id == case_id, Case.user_id == user_id))
        if case is None:
            raise HTTPException(404, "Case not found")
        return case

    @app.post("/api/v1/cases", response_model=CaseOut, status_code=201)
    async def create_case(body: CaseIn, user_id: UserDep, session: SessionDep) -> Case:
        now = datetime.now(UTC)
        case = Case(
            case_id="case_" + secrets.token_hex(6),
            user_id=user_id,
            session_id=body.session_id,
            title=body.title or "Untitled",
            description=body.description,
            status="active",
            severity=body.severity,
            category=body.category,
            metadata_=body.metadata,
            created_at=now,
            updated_at=now,
            version=1,
            message_count=0,
            last_activity_at=now,
            tag_rows=[CaseTag(tag=tag.strip().lower(), user_id=user_id) for tag in dict.fromkeys(body.tags)],
        )
        session.add(case)
        event_id = str(uuid.uuid4())
        session.add(
            OutboxEvent(
                event_id=event_id,
                event_type="case.created",
                aggregate_type="case",
                aggregate_id=case.case_id,
                aggregate_version=1,
                envelope={
                    "event_id": event_id,
                    "event_type": "case.created",
                    "schema_version": "1.0.0",
                    "timestamp": now.isoformat(),
                    "producer": "bench-common",
                    "aggregate_type": "case",
                    "aggregate_id": case.case_id,
                    "aggregate_version": 1,
                    "payload": CaseOut.model_validate(case).model_dump(mode="json"),
                },
                headers={"ce-specversion": "1.0", "ce-type": "case.created.v1", "content-type": "application/json"},
                created_at=now,
            )
        )
        await session.commit()
        return case

    return app
