"""Small helpers shared by the API tests."""

from __future__ import annotations

from typing import Any

from httpx import AsyncClient
from sqlalchemy import func, select

from case_service.adapters.tables import event_outbox


async def create(client: AsyncClient, **body: object) -> dict[str, Any]:
    response = await client.post("/api/v1/cases", json=body)
    assert response.status_code == 201, response.text
    return response.json()


async def post_message(client: AsyncClient, case_id: str, content: str, role: str = "user", **extra: Any) -> dict:
    response = await client.post(f"/api/v1/cases/{case_id}/messages", json={"role": role, "content": content, **extra})
    assert response.status_code == 201, response.text
    return response.json()


async def count_rows(app: object, table: Any, **where: object) -> int:
    async with app.state.database.connection(write=False) as conn:  # type: ignore[attr-defined]
        stmt = select(func.count()).select_from(table)
        for column, value in where.items():
            stmt = stmt.where(table.c[column] == value)
        return int((await conn.execute(stmt)).scalar_one())


async def outbox_of(app: object, case_id: str) -> list[tuple[str, int, dict[str, Any]]]:
    """(event_type, aggregate_version, envelope) of the case's outbox rows, in version order."""
    async with app.state.database.connection(write=False) as conn:  # type: ignore[attr-defined]
        rows = await conn.execute(
            select(event_outbox.c.event_type, event_outbox.c.aggregate_version, event_outbox.c.envelope)
            .where(event_outbox.c.aggregate_id == case_id)
            .order_by(event_outbox.c.aggregate_version)
        )
        return [(row.event_type, row.aggregate_version, row.envelope) for row in rows]
