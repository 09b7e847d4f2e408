"""Writing events to the transactional outbox: same connection, same transaction as the change."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from case_service.adapters.tables import event_outbox
from case_service.domain.events import DomainEvent
from case_service.service.context import RequestContext

SCHEMA_VERSION = "1.0.0"
CHANNEL_VERSION = "v1"
AGGREGATE_TYPE = "case"
# PostgreSQL NOTIFY channel that wakes the relays. The insert trigger of `event_outbox` (migration
# 0009) sends it inside the writing transaction; PostgreSQL delivers it at commit (and never for a
# rolled-back one).
NOTIFY_CHANNEL = "case_outbox"


def channel_for(event_type: str) -> str:
    """The versioned broker channel of an event type: `case.created` -> `case.created.v1`."""
    return f"{event_type}.{CHANNEL_VERSION}"


def build_envelope(event: DomainEvent, context: RequestContext, producer: str) -> dict[str, Any]:
    return {
        "event_id": str(uuid.uuid4()),
        "event_type": event.event_type,
        "schema_version": SCHEMA_VERSION,
        "timestamp": event.occurred_at.astimezone(UTC).isoformat(),
        "correlation_id": context.correlation_id,
        "producer": producer,
        "aggregate_type": AGGREGATE_TYPE,
        "aggregate_id": event.case_id,
        "aggregate_version": event.version,
        "payload": event.payload(),
    }


def cloudevents_headers(
    envelope: dict[str, Any], producer: str, traceparent: str | None = None, tracestate: str | None = None
) -> dict[str, str]:
    """CloudEvents 1.0 binary-mode attributes, carried as broker headers beside the JSON body.

    With the request's `traceparent` and `tracestate` (W3C Trace Context, as the CloudEvents
    distributed-tracing extension carries them) a consumer continues the trace of the request that
    caused the event.
    """
    headers = {
        "ce-specversion": "1.0",
        "ce-id": envelope["event_id"],
        "ce-type": channel_for(envelope["event_type"]),
        "ce-source": f"/{producer}",
        "ce-time": envelope["timestamp"],
        "ce-subject": envelope["aggregate_id"],
        "content-type": "application/json",
    }
    if traceparent:
        headers["traceparent"] = traceparent
        if tracestate:
            headers["tracestate"] = tracestate
    return headers


async def write_events(
    conn: AsyncConnection, events: Sequence[DomainEvent], context: RequestContext, producer: str
) -> None:
    rows = outbox_rows(events, context, producer)
    if rows:
        # On PostgreSQL the table's trigger NOTIFYs NOTIFY_CHANNEL with the insert (migration 0009).
        await conn.execute(_INSERT_EVENT, rows[0] if len(rows) == 1 else rows)


def outbox_rows(events: Sequence[DomainEvent], context: RequestContext, producer: str) -> list[dict[str, Any]]:
    """The outbox rows of the events, as statement values."""
    now = datetime.now(UTC)
    rows = []
    # In version order: the relay relies on a case's ids growing with its versions.
    for event in sorted(events, key=lambda event: event.version):
        envelope = build_envelope(event, context, producer)
        rows.append(
            {
                "event_id": envelope["event_id"],
                "event_type": event.event_type,
                "aggregate_type": AGGREGATE_TYPE,
                "aggregate_id": event.case_id,
                "aggregate_version": event.version,
                "envelope": envelope,
                "headers": cloudevents_headers(envelope, producer, context.traceparent, context.tracestate),
                "created_at": now,
            }
        )
    return rows


# Built once; one row is executed as a single statement rather than through executemany.
_INSERT_EVENT = insert(event_outbox)
