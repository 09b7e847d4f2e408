"""Liveness and readiness probes. Open to every caller: they reveal no case data."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from datetime import UTC, datetime
from typing import Any, TypeVar

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from case_service import __version__
from case_service.adapters.outbox_store import OutboxStore
from case_service.api.deps import SettingsDep, local_relay
from case_service.api.schemas import Health, Readiness

router = APIRouter(tags=["health"])
T = TypeVar("T")

# The probe answers within a second even when the database hangs: the check gets 0.8 s.
READY_TIMEOUT_SECONDS = 0.8
# The outbox numbers are informative: they get what is left of the second, and no more.
OUTBOX_CHECK_TIMEOUT_SECONDS = 0.2


@router.get("/health", response_model=Health, summary="Liveness: the process answers (no database call)")
async def health(settings: SettingsDep) -> Health:
    return Health(status="ok", service=settings.service_name, version=__version__)


@router.get(
    "/ready",
    response_model=Readiness,
    responses={503: {"model": Readiness, "description": "A dependency is unreachable; `checks` says which."}},
    summary="Readiness: the database answers a query",
)
async def ready(request: Request) -> JSONResponse:
    database = request.app.state.database
    try:
        await _within(database.ping(), READY_TIMEOUT_SECONDS)
    except Exception as exc:  # any failure means not ready; the reason goes in the body
        reason = "timed out" if isinstance(exc, TimeoutError) else f"{type(exc).__name__}: {exc}"[:300]
        body = Readiness(status="unavailable", checks={"database": {"status": "down", "error": reason}})
        return JSONResponse(body.model_dump(), status_code=503)
    checks = {"database": {"status": "up", "dialect": database.dialect}, "outbox": await _outbox_state(request)}
    return JSONResponse(Readiness(status="ready", checks=checks).model_dump())


async def _outbox_state(request: Request) -> dict[str, Any]:
    """The outbox, for information only: it never makes the service unready. A broker outage
    leaves writes working (events wait in the outbox), and restarting this instance would not
    bring the broker back; alert on `oldest_pending_age_seconds` instead."""
    relay = local_relay(request)
    state: dict[str, Any] = {"relay": "off" if relay is None else ("leader" if relay.is_leader else "standby")}
    try:
        summary = await _within(
            OutboxStore(request.app.state.database).pending_summary(datetime.now(UTC)), OUTBOX_CHECK_TIMEOUT_SECONDS
        )
    except Exception as exc:
        reason = "timed out" if isinstance(exc, TimeoutError) else f"{type(exc).__name__}: {exc}"[:300]
        return {**state, "status": "unknown", "error": reason}
    return {
        **state,
        "status": "backlog" if summary.failing else "ok",
        "pending": summary.pending,
        "failing": summary.failing,
        "oldest_pending_age_seconds": summary.oldest_pending_age_seconds,
    }


_abandoned: set[asyncio.Task[Any]] = set()


async def _within(check: Coroutine[Any, Any, T], seconds: float) -> T:
    """Await `check` for at most `seconds`. Unlike `wait_for`, do not wait for a cancelled check to
    unwind (closing a connection to a hung server can take as long again): leave it behind."""
    task = asyncio.ensure_future(check)
    done, _ = await asyncio.wait({task}, timeout=seconds)
    if task in done:
        return task.result()
    task.cancel()
    _abandoned.add(task)
    task.add_done_callback(_forget)
    raise TimeoutError


def _forget(task: asyncio.Task[Any]) -> None:
    _abandoned.discard(task)
    if not task.cancelled():
        task.exception()  # retrieved, so asyncio does not report it as lost
