"""`GET /internal/v1/outbox/stats` and the outbox in `/ready`, with the relay on (log publisher)."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator

import pytest
from fastapi import FastAPI
from httpx import AsyncClient

from case_service.config import Settings
from tests.api.helpers import create
from tests.brokers import eventually
from tests.conftest import client_for, running_app

OPERATOR = {"X-User-Roles": '["admin"]'}


@pytest.fixture
async def relaying_app(settings: Settings) -> AsyncIterator[FastAPI]:
    """The app as deployed by default: relay on, publishing log lines."""
    async with running_app(settings.model_copy(update={"outbox_relay_enabled": True})) as application:
        yield application


async def stats(app: FastAPI) -> dict:
    async with client_for(app, "ops", **OPERATOR) as ops:
        response = await ops.get("/internal/v1/outbox/stats")
    assert response.status_code == 200, response.text
    return response.json()


async def test_stats_show_pending_events_and_no_active_relay_when_none_runs(app: FastAPI, client: AsyncClient) -> None:
    await create(client, title="Waiting")
    await create(client, title="Also waiting")
    body = await stats(app)
    assert body["pending"] == 2
    assert body["published"] == 0
    assert body["failing"] == 0
    assert body["oldest_pending_age_seconds"] >= 0
    assert body["last_error"] is None
    assert body["relay"] == {"active": None, "this_process": None}


async def test_the_in_app_relay_logs_each_event_as_one_json_line_and_stats_name_it_active(
    relaying_app: FastAPI, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="case_service.events")
    async with client_for(relaying_app) as alice:
        case_id = (await create(alice, title="Logged"))["case_id"]

    async def published() -> bool:
        return (await stats(relaying_app))["published"] == 1

    await eventually(published, what="the event to be published")
    lines = [json.loads(r.getMessage()) for r in caplog.records if r.name == "case_service.events"]
    assert len(lines) == 1
    assert lines[0]["channel"] == "case.created.v1"
    assert lines[0]["event"]["aggregate_id"] == case_id
    assert lines[0]["headers"]["ce-id"] == lines[0]["event"]["event_id"]
    body = await stats(relaying_app)
    this_process = body["relay"]["this_process"]
    assert this_process["leader"] is True
    assert this_process["publisher"] == "log"
    assert body["relay"]["active"] == this_process["identity"]
    assert body["pending"] == 0
    assert body["oldest_pending_age_seconds"] is None


async def test_ready_reports_the_outbox_without_failing_on_it(relaying_app: FastAPI) -> None:
    async with client_for(relaying_app, None) as anyone:
        response = await anyone.get("/ready")
    assert response.status_code == 200
    outbox = response.json()["checks"]["outbox"]
    assert outbox["relay"] in {"leader", "standby"}
    assert outbox["status"] == "ok"
    assert outbox["pending"] >= 0


@pytest.mark.parametrize("roles", [None, '["support"]'])
async def test_stats_are_for_operators_only(app: FastAPI, roles: str | None) -> None:
    headers = {"X-User-Roles": roles} if roles else {}
    async with client_for(app, "mallory", **headers) as caller:
        response = await caller.get("/internal/v1/outbox/stats")
    assert response.status_code == 403
    assert response.json()["code"] == "forbidden"
