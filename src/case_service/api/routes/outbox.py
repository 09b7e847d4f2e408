"""Operator view of the transactional outbox: what waits, what fails, which relay publishes."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter, Request

from case_service.adapters.leadership import active_relay
from case_service.adapters.outbox_store import OutboxStore
from case_service.api.deps import OperatorContextDep, local_relay
from case_service.api.routes.cases import errors
from case_service.api.schemas import OutboxLastError, OutboxStatsRead, RelayStatus

router = APIRouter(prefix="/internal/v1/outbox", tags=["operations"])


@router.get(
    "/stats",
    response_model=OutboxStatsRead,
    responses=errors(400, 401, 403),
    summary="Outbox state: pending, failing, published, last error, active relay (operators)",
)
async def outbox_stats(request: Request, _operator: OperatorContextDep) -> OutboxStatsRead:
    database = request.app.state.database
    stats = await OutboxStore(database).stats(datetime.now(UTC))
    relay = local_relay(request)
    return OutboxStatsRead(
        pending=stats.pending,
        oldest_pending_age_seconds=stats.oldest_pending_age_seconds,
        failing=stats.failing,
        published=stats.published,
        last_error=OutboxLastError(**stats.last_error) if stats.last_error else None,
        relay=RelayStatus(
            active=await active_relay(database),
            this_process=None
            if relay is None
            else {
                "identity": relay.identity,
                "leader": relay.is_leader,
                "publisher": relay.publisher.name,
                "last_error": relay.last_error,
            },
        ),
    )
