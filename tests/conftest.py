"""Test fixtures. API and integration tests run once per backend: SQLite and PostgreSQL.

PostgreSQL: CASE_TEST_POSTGRES_URL names a server where the tests may create a database
(default: this machine's at 127.0.0.1:5432). One fresh database is created per run and dropped
after it; tables are emptied before each test. When the server cannot be reached, the PostgreSQL
tests are skipped with the reason, unless CASE_TEST_REQUIRE_POSTGRES=1 (as in CI): then they fail.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import os
import shutil
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import datetime
from pathlib import Path

import asyncpg
import fastapi.dependencies.models
import nats
import pytest
from alembic import command
from fastapi import FastAPI
from httpx import ASGITransport, AsyncClient
from nats.js.errors import NotFoundError
from sqlalchemy import text

from case_service.adapters.migrations import alembic_config
from case_service.config import Settings
from case_service.main import create_app
from case_service.service.cases import utc_now
from tests.jetstream import TestStream
from tests.brokers import NATS_URL, RABBITMQ_URL, require_broker

POSTGRES_ADMIN_URL = os.environ.get("CASE_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
REQUIRE_POSTGRES = os.environ.get("CASE_TEST_REQUIRE_POSTGRES") == "1"
BACKENDS = ["sqlite", "postgresql"]


def make_settings(database_url: str, **overrides: object) -> Settings:
    """Test settings. The outbox relay is off unless a test turns it on (OUTBOX_RELAY_ENABLED), so
    tests that read `event_outbox` see their rows stay pending."""
    overrides.setdefault("outbox_relay_enabled", False)
    return Settings(  # type: ignore[call-arg]
        _env_file=None, database_url=database_url, auto_migrate=False, environment="test", **overrides
    )


def migrate(database_url: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(make_settings(database_url)), revision)


def _asyncpg_dsn(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://", 1)


async def _admin(sql: str) -> None:
    conn = await asyncpg.connect(_asyncpg_dsn(POSTGRES_ADMIN_URL), timeout=5)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


@pytest.fixture(scope="session")
def postgres_server() -> Callable[[], str]:
    """Creates fresh PostgreSQL databases; each is dropped at the end of the run."""
    try:
        asyncio.run(_admin("SELECT 1"))
    except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
        message = f"PostgreSQL unreachable at {POSTGRES_ADMIN_URL}: {exc!r}"
        if REQUIRE_POSTGRES:
            pytest.fail(message + " (CASE_TEST_REQUIRE_POSTGRES=1)")
        pytest.skip(message + "; set CASE_TEST_POSTGRES_URL to run the PostgreSQL tests")
    created: list[str] = []

    def new_database() -> str:
        name = f"case_test_{uuid.uuid4().hex[:12]}"
        asyncio.run(_admin(f'CREATE DATABASE "{name}"'))
        created.append(name)
        base = POSTGRES_ADMIN_URL.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://", 1)
        return f"{base}/{name}"

    yield new_database  # type: ignore[misc]
    for name in created:
        asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(scope="session")
def postgres_url(postgres_server: Callable[[], str]) -> str:
    """The run's migrated PostgreSQL database, shared by the tests (emptied before each)."""
    url = postgres_server()
    migrate(url)
    return url


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "cases.db"
    migrate(f"sqlite+aiosqlite:///{path}")
    return path


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def database_url(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if backend == "sqlite":
        path = tmp_path / "cases.db"
        shutil.copy(request.getfixturevalue("sqlite_template"), path)
        return f"sqlite+aiosqlite:///{path}"
    return str(request.getfixturevalue("postgres_url"))


@pytest.fixture
def settings(database_url: str) -> Settings:
    return make_settings(database_url)


class FrozenClock:
    """A clock the test moves by hand; `None` means the real time."""

    def __init__(self) -> None:
        self.now: datetime | None = None

    def __call__(self) -> datetime:
        return self.now or utc_now()


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock()


def pytest_collection_finish(session: pytest.Session) -> None:
    """What exists once the tests are collected (every module, the tests) lives for the whole run:
    out of the collector's reach, full collections walk only what the tests build. The served
    process does the same after building its app (`case_service.main`)."""
    gc.collect()
    gc.freeze()


@pytest.fixture(autouse=True)
def _let_finished_apps_go() -> Iterator[None]:
    """FastAPI classifies endpoints in module-level LRU caches keyed by the callable, 4,096 each.
    fastapi_offline's docs endpoints close over their app, so those caches kept every app the
    tests built alive. By the end of the suite the process held about 4M objects, and a full
    collection took over 3 s. One landed inside a timed call of test_database_outage.py and failed
    it. Emptying the caches after each test lets a finished app go. A served process builds one
    app, and is not affected."""
    yield
    for value in vars(fastapi.dependencies.models).values():
        if callable(getattr(value, "cache_clear", None)):
            value.cache_clear()


@contextlib.asynccontextmanager
async def running_app(settings: Settings, clock: FrozenClock | None = None) -> AsyncIterator[FastAPI]:
    """An app through its lifespan, on empty tables (the PostgreSQL database is shared by the run)."""
    application = create_app(settings, clock=clock or FrozenClock())
    async with application.router.lifespan_context(application):
        database = application.state.database
        if database.dialect == "postgresql":
            await _empty_tables(database)
        yield application


@pytest.fixture
async def app(settings: Settings, clock: FrozenClock) -> AsyncIterator[FastAPI]:
    async with running_app(settings, clock) as application:
        yield application


async def _empty_tables(database: object) -> None:
    async with database.connection(write=True) as conn:  # type: ignore[attr-defined]
        names = (
            await conn.execute(
                text("SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename <> 'alembic_version'")
            )
        ).scalars()
        tables = ", ".join(f'"{name}"' for name in names)
        if tables:
            await conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
        await conn.commit()


def client_for(app: object, user_id: str | None = "alice", **headers: str) -> AsyncClient:
    if user_id is not None:
        headers["X-User-ID"] = user_id
    transport = ASGITransport(app=app, raise_app_exceptions=False)  # type: ignore[arg-type]
    return AsyncClient(transport=transport, base_url="http://testserver", headers=headers)


@pytest.fixture
async def client(app: object) -> AsyncIterator[AsyncClient]:
    async with client_for(app) as c:
        yield c


@pytest.fixture
def nats_url() -> str:
    require_broker("nats")
    return NATS_URL


@pytest.fixture
def rabbitmq_url() -> str:
    require_broker("rabbitmq")
    return RABBITMQ_URL


@pytest.fixture
async def jetstream(nats_url: str) -> AsyncIterator[TestStream]:
    """A JetStream stream and subject prefix of this test's own, deleted after it."""
    connection = await nats.connect(nats_url)
    stream = TestStream(connection.jetstream(), nats_url)
    yield stream
    with contextlib.suppress(NotFoundError):
        await connection.jetstream().delete_stream(stream.name)
    await connection.close()


@pytest.fixture
async def bob(app: object) -> AsyncIterator[AsyncClient]:
    async with client_for(app, "bob") as c:
        yield c
