"""Writing the audit trail: one `case_history` row per domain event, in the change's transaction.

The unit of work calls this at commit for every event the touched cases recorded, so every
mutating use case gets its audit rows without remembering to write them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from case_service.adapters.tables import case_history
from case_service.domain.events import DomainEvent
from case_service.service.context import RequestContext


async def write_history(conn: AsyncConnection, events: Sequence[DomainEvent], context: RequestContext) -> None:
    rows = history_rows(events, context)
    if rows:
        await conn.execute(_INSERT_HISTORY, rows[0] if len(rows) == 1 else rows)


def history_rows(events: Sequence[DomainEvent], context: RequestContext) -> list[dict[str, Any]]:
    """The history rows of the events, as statement values."""
    return [
        {
            "case_id": event.case_id,
            "user_id": event.user_id,
            "version": event.version,
            "event_type": event.event_type,
            "details": event.audit_details(),
            "actor_id": context.actor.user_id,
            "actor_email": context.actor.email,
            "correlation_id": context.correlation_id,
            "occurred_at": event.occurred_at,
        }
        for event in events
    ]


# Built once; one row is executed as a single statement rather than through executemany.
_INSERT_HISTORY = insert(case_history)
