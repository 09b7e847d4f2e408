"""Evidence references of cases, in SQL. Nothing here commits."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, insert, select
from sqlalchemy.engine import Row

from case_service.adapters.database import LazyConnection
from case_service.adapters.tables import case_evidence
from case_service.domain.evidence import Evidence
from case_service.domain.queries import EvidencePage


class EvidenceRepository:
    def __init__(self, conn: LazyConnection) -> None:
        self._conn = conn

    async def add(self, evidence: Evidence, *, event_id: str, now: datetime) -> None:
        await self._conn.execute(
            insert(case_evidence).values(
                evidence_id=evidence.evidence_id,
                case_id=evidence.case_id,
                file_name=evidence.file_name,
                content_type=evidence.content_type,
                size_bytes=evidence.size_bytes,
                uploaded_at=evidence.uploaded_at,
                uploaded_by=evidence.uploaded_by,
                recorded_at=now,
                event_id=event_id,
            )
        )

    async def get(self, evidence_id: str) -> Evidence | None:
        row = (
            await self._conn.execute(select(case_evidence).where(case_evidence.c.evidence_id == evidence_id))
        ).one_or_none()
        return None if row is None else _to_evidence(row)

    async def of_case(self, case_id: str, *, limit: int, offset: int) -> EvidencePage:
        """The case's evidence, oldest upload first; `total` counts all of it. One query."""
        rows = (
            await self._conn.execute(
                select(case_evidence, func.count().over().label("total"))
                .where(case_evidence.c.case_id == case_id)
                .order_by(case_evidence.c.uploaded_at, case_evidence.c.evidence_id)
                .limit(limit)
                .offset(offset)
            )
        ).all()
        if rows:
            return EvidencePage(evidence=[_to_evidence(row) for row in rows], total=int(rows[0].total))
        if offset == 0:
            return EvidencePage()
        total = (
            await self._conn.execute(
                select(func.count()).select_from(case_evidence).where(case_evidence.c.case_id == case_id)
            )
        ).scalar_one()
        return EvidencePage(total=int(total))

    async def newest_of_case(self, case_id: str, limit: int) -> EvidencePage:
        """The `limit` newest uploads, oldest first, and how many the case has. One query."""
        rows = (
            await self._conn.execute(
                select(case_evidence, func.count().over().label("total"))
                .where(case_evidence.c.case_id == case_id)
                .order_by(case_evidence.c.uploaded_at.desc(), case_evidence.c.evidence_id.desc())
                .limit(limit)
            )
        ).all()
        total = int(rows[0].total) if rows else 0
        return EvidencePage(evidence=[_to_evidence(row) for row in reversed(rows)], total=total)


def _to_evidence(row: Row[Any]) -> Evidence:
    return Evidence(
        evidence_id=row.evidence_id,
        case_id=row.case_id,
        file_name=row.file_name,
        uploaded_at=row.uploaded_at,
        uploaded_by=row.uploaded_by,
        content_type=row.content_type,
        size_bytes=row.size_bytes,
    )
