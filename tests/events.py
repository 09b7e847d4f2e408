"""Building platform events the way the platform sends them, for the consumer and ingress tests."""

from __future__ import annotations

import json
import uuid
from typing import Any

from httpx import AsyncClient, Response

OPERATOR = {"X-User-Roles": "platform-service"}


def envelope(event_type: str, payload: dict[str, Any], **fields: Any) -> dict[str, Any]:
    return {
        "event_id": str(uuid.uuid4()),
        "event_type": event_type,
        "schema_version": "1.0.0",
        "timestamp": "2026-11-15T12:40:00+00:00",
        "correlation_id": "corr-" + uuid.uuid4().hex[:8],
        "producer": "fm-test-platform",
        "payload": payload,
        **fields,
    }


def evidence_event(case_id: str, evidence_id: str | None = None, **payload: Any) -> dict[str, Any]:
    return envelope(
        "evidence.uploaded",
        {
            "evidence_id": evidence_id or "ev_" + uuid.uuid4().hex[:12],
            "case_id": case_id,
            "file_name": "checkout-pod.log",
            "uploaded_by": "alice",
            "uploaded_at": "2026-11-15T12:39:00Z",
            **payload,
        },
    )


def body_of(event: dict[str, Any]) -> bytes:
    return json.dumps(event).encode()


async def deliver(client: AsyncClient, event: dict[str, Any] | bytes, **headers: str) -> Response:
    """POST the event to the HTTP ingress as an operator (the ingress without a secret)."""
    body = event if isinstance(event, bytes) else body_of(event)
    return await client.post(
        "/internal/v1/events", content=body, headers={"Content-Type": "application/json", **OPERATOR, **headers}
    )


_BREAK = {
    "sqlite": [
        "CREATE TRIGGER evidence_broken BEFORE INSERT ON case_evidence "
        "BEGIN SELECT RAISE(ABORT, 'the evidence store is broken'); END"
    ],
    "postgresql": [
        "CREATE FUNCTION evidence_broken() RETURNS trigger AS $$ BEGIN "
        "RAISE EXCEPTION 'the evidence store is broken'; END $$ LANGUAGE plpgsql",
        "CREATE TRIGGER evidence_broken BEFORE INSERT ON case_evidence "
        "FOR EACH ROW EXECUTE FUNCTION evidence_broken()",
    ],
}
_REPAIR = {
    "sqlite": ["DROP TRIGGER IF EXISTS evidence_broken"],
    "postgresql": [
        "DROP TRIGGER IF EXISTS evidence_broken ON case_evidence",
        "DROP FUNCTION IF EXISTS evidence_broken()",
    ],
}


async def break_evidence_store(database: Any) -> None:
    """A fault the database itself raises on every evidence insert: a poison for evidence events
    until `repair_evidence_store` (the cause fixed)."""
    await _run(database, _BREAK[database.dialect])


async def repair_evidence_store(database: Any) -> None:
    await _run(database, _REPAIR[database.dialect])


async def _run(database: Any, statements: list[str]) -> None:
    async with database.connection(write=True) as conn:
        for statement in statements:
            await conn.exec_driver_sql(statement)
        await conn.commit()
