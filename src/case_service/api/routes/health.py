"""Liveness and readiness probes. Open to every caller: they reveal no case data."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from case_service import __version__
from case_service.api.deps import SettingsDep
from case_service.api.schemas import Health, Readiness

router = APIRouter(tags=["health"])

# The probe answers within a second even when the database hangs: the check gets 0.8 s.
READY_TIMEOUT_SECONDS = 0.8


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
    body = Readiness(status="ready", checks={"database": {"status": "up", "dialect": database.dialect}})
    return JSONResponse(body.model_dump())


_abandoned: set[asyncio.Task[None]] = set()


async def _within(check: Coroutine[Any, Any, None], seconds: float) -> None:
    """Await `check` for at most `seconds`. Unlike `wait_for`, do not wait for a cancelled check to
    unwind (closing a connection to a hung server can take as long again): leave it behind."""
    task = asyncio.ensure_future(check)
    done, _ = await asyncio.wait({task}, timeout=seconds)
    if task in done:
        task.result()
        return
    task.cancel()
    _abandoned.add(task)
    task.add_done_callback(_forget)
    raise TimeoutError


def _forget(task: asyncio.Task[None]) -> None:
    _abandoned.discard(task)
    if not task.cancelled():
        task.exception()  # retrieved, so asyncio does not report it as lost
