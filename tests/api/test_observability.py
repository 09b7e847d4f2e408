"""Metrics, access logs and trace propagation, as an operator (and a downstream consumer) sees them."""

from __future__ import annotations

import io
import json
import logging
import re
from collections.abc import Callable
from typing import Any

import pytest
from httpx import AsyncClient
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import select

from case_service.adapters.tables import event_outbox
from case_service.config import Settings
from case_service.main import create_app
from case_service.observability.tracing import parse_traceparent
from tests.api.helpers import create, post_message
from tests.conftest import client_for

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
TRACEPARENT = f"00-{TRACE_ID}-00f067aa0ba902b7-01"


async def scrape(client: AsyncClient) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of /metrics, keyed by (name, sorted labels)."""
    response = await client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return samples_of(response.text)


def samples_of(exposition: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    samples = {}
    for family in text_string_to_metric_families(exposition):
        for item in family.samples:
            samples[(item.name, tuple(sorted(item.labels.items())))] = item.value
    return samples


def sample(samples: dict, name: str, **labels: str) -> float | None:
    return samples.get((name, tuple(sorted(labels.items()))))


@pytest.fixture
def log_lines(app: Any) -> Callable[[], list[dict[str, Any]]]:
    """The JSON lines the app's log handler writes from now on (its stream, redirected)."""
    handler = next(h for h in logging.getLogger().handlers if getattr(h, "_case_service_handler", False))
    buffer = io.StringIO()
    handler.setStream(buffer)  # type: ignore[attr-defined]
    return lambda: [json.loads(line) for line in buffer.getvalue().splitlines()]


async def test_requests_are_counted_by_route_template_method_and_status(client: AsyncClient) -> None:
    first, second = await create(client, title="one"), await create(client, title="two")
    for case in (first, second):
        assert (await client.get(f"/api/v1/cases/{case['case_id']}")).status_code == 200
    assert (await client.get("/api/v1/cases/case_000000000000")).status_code == 404
    assert (await client.get(f"/no/such/route/{first['case_id']}")).status_code == 404
    assert (await client.request("BREW", "/api/v1/cases")).status_code == 405
    assert (await client.get("/static-offline-docs/swagger-ui.css")).status_code == 200

    response = await client.get("/metrics")
    # Raw paths never become labels: no case id appears anywhere in the exposition.
    assert first["case_id"] not in response.text and second["case_id"] not in response.text
    samples = await scrape(client)
    by_id = {"route": "/api/v1/cases/{case_id}", "method": "GET"}
    assert sample(samples, "case_http_requests_total", **by_id, status="200") == 2
    assert sample(samples, "case_http_requests_total", **by_id, status="404") == 1
    assert sample(samples, "case_http_requests_total", route="/api/v1/cases", method="POST", status="201") == 2
    assert sample(samples, "case_http_requests_total", route="unmatched", method="GET", status="404") == 1
    assert sample(samples, "case_http_requests_total", route="/api/v1/cases", method="OTHER", status="405") == 1
    docs_assets = {"route": "/static-offline-docs/{path}", "method": "GET", "status": "200"}
    assert sample(samples, "case_http_requests_total", **docs_assets) == 1
    assert sample(samples, "case_http_request_duration_seconds_count", **by_id, status="200") == 2
    assert sample(samples, "case_http_request_duration_seconds_bucket", **by_id, status="200", le="+Inf") == 2
    assert sample(samples, "case_http_request_duration_seconds_bucket", **by_id, status="200", le="0.5") is not None


async def test_the_scrape_itself_is_in_flight(client: AsyncClient) -> None:
    assert sample(await scrape(client), "case_http_requests_in_flight") == 1


async def test_database_pool_usage_is_read_at_scrape_time(app: Any, client: AsyncClient) -> None:
    expected_size = app.state.database.engine.pool.size()
    idle = await scrape(client)
    assert sample(idle, "case_db_pool_size", database="primary") == expected_size
    assert sample(idle, "case_db_pool_checked_out", database="primary") == 0
    assert sample(idle, "case_db_pool_size", database="replica") is None  # no replica configured
    async with app.state.database.connection(write=False), app.state.database.connection(write=False):
        busy = await scrape(client)
    assert sample(busy, "case_db_pool_checked_out", database="primary") == 2
    assert sample(await scrape(client), "case_db_pool_checked_out", database="primary") == 0


async def test_a_read_replica_pool_is_reported_beside_the_primary(settings: Settings) -> None:
    # The replica here is the same database under a second pool: what is measured is the pool.
    app = create_app(settings.model_copy(update={"database_read_url": settings.database_url, "database_pool_size": 3}))
    async with app.router.lifespan_context(app), client_for(app) as client:
        async with app.state.read_database.connection(write=False):
            samples = await scrape(client)
    assert sample(samples, "case_db_pool_checked_out", database="replica") == 1
    assert sample(samples, "case_db_pool_checked_out", database="primary") == 0
    assert sample(samples, "case_db_pool_size", database="replica") is not None
    # After shutdown the pools are gone and so are their series.
    after = samples_of(generate_latest(app.state.metrics.registry).decode())
    assert sample(after, "case_db_pool_size", database="primary") is None


async def test_the_outbox_and_inbox_instruments_are_exposed(app: Any, client: AsyncClient) -> None:
    app.state.metrics.outbox_publish_failures.inc()
    app.state.metrics.inbox_processed.labels(event_type="user.deleted").inc(2)
    samples = await scrape(client)
    assert sample(samples, "case_outbox_publish_failures_total") == 1
    assert sample(samples, "case_inbox_events_processed_total", event_type="user.deleted") == 2
    for name in ("case_outbox_pending_events", "case_outbox_oldest_pending_age_seconds", "case_outbox_relay_leader",
                 "case_inbox_duplicates_total", "case_inbox_dead_letters_total", "case_outbox_publish_attempts_total"):
        assert sample(samples, name) is not None, name


async def test_each_request_logs_one_json_line_with_its_ids_and_no_content(
    client: AsyncClient, log_lines: Callable[[], list[dict[str, Any]]]
) -> None:
    case = await create(client, title="Secret outage at ACME", description="password=hunter2")
    await post_message(client, case["case_id"], "the private conversation text")
    response = await client.get(f"/api/v1/cases/{case['case_id']}", headers={"X-Correlation-ID": "corr-42"})

    lines = log_lines()
    access = [line for line in lines if line["logger"] == "case_service.access"]
    assert [line["route"] for line in access] == [
        "/api/v1/cases", "/api/v1/cases/{case_id}/messages", "/api/v1/cases/{case_id}"
    ]
    last = access[-1]
    assert last["correlation_id"] == "corr-42" == response.headers["X-Correlation-ID"]
    assert last["user_id"] == "alice"
    assert (last["method"], last["status"], last["level"], last["service"]) == ("GET", 200, "INFO", "fm-case-service")
    assert last["duration_ms"] >= 0 and re.match(r"^\d{4}-\d\d-\d\dT", last["time"])
    assert last["message"] == "GET /api/v1/cases/{case_id} 200"
    assert len(last["trace_id"]) == 32
    everything = json.dumps(lines)
    for secret in ("Secret outage", "hunter2", "private conversation"):
        assert secret not in everything


async def test_a_refused_request_is_logged_without_a_user(
    client: AsyncClient, app: Any, log_lines: Callable[[], list[dict[str, Any]]]
) -> None:
    async with client_for(app, user_id=None) as anonymous:
        assert (await anonymous.get("/api/v1/cases")).status_code == 401
    (line,) = [line for line in log_lines() if line["logger"] == "case_service.access"]
    assert line["status"] == 401 and "user_id" not in line


async def test_a_valid_traceparent_reaches_the_logs_and_the_outbox_headers(
    app: Any, client: AsyncClient, log_lines: Callable[[], list[dict[str, Any]]]
) -> None:
    response = await client.post("/api/v1/cases", json={"title": "traced"}, headers={"traceparent": TRACEPARENT})
    assert response.status_code == 201
    (headers,) = await outbox_headers(app, response.json()["case_id"])
    forwarded = parse_traceparent(headers["traceparent"])
    assert forwarded is not None and forwarded.trace_id == TRACE_ID
    assert forwarded.span_id != "00f067aa0ba902b7"  # this service's span, child of the caller's
    (line,) = [line for line in log_lines() if line["logger"] == "case_service.access"]
    assert (line["trace_id"], line["span_id"]) == (TRACE_ID, forwarded.span_id)



async def test_the_callers_tracestate_goes_into_the_outbox_headers_with_the_traceparent(
    app: Any, client: AsyncClient
) -> None:
    traced = await client.post(
        "/api/v1/cases",
        json={"title": "traced"},
        headers=[
            ("traceparent", TRACEPARENT),
            ("tracestate", "rojo=00f067aa0ba902b7"),
            ("tracestate", "congo=t61rcWkgMzE"),
        ],
    )
    untraced = await client.post("/api/v1/cases", json={"title": "untraced"}, headers={"tracestate": "rojo=1"})
    broken = await client.post(
        "/api/v1/cases", json={"title": "broken"}, headers={"traceparent": TRACEPARENT, "tracestate": "Rojo=1"}
    )
    (headers,) = await outbox_headers(app, traced.json()["case_id"])
    assert headers["tracestate"] == "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE"
    for response in (untraced, broken):  # no trace to belong to; a list out of form
        (headers,) = await outbox_headers(app, response.json()["case_id"])
        assert "traceparent" in headers and "tracestate" not in headers

@pytest.mark.parametrize("header", [None, "00-zzzz-00f067aa0ba902b7-01", f"00-{TRACE_ID}-0000000000000000-01"])
async def test_without_a_valid_traceparent_a_new_trace_starts(app: Any, client: AsyncClient, header: str | None) -> None:
    extra = {"traceparent": header} if header else {}
    ids = []
    for _ in range(2):
        response = await client.post("/api/v1/cases", json={"title": "untraced"}, headers=extra)
        assert response.status_code == 201
        (headers,) = await outbox_headers(app, response.json()["case_id"])
        forwarded = parse_traceparent(headers["traceparent"])
        assert forwarded is not None and forwarded.trace_id != TRACE_ID
        ids.append(forwarded.trace_id)
    assert ids[0] != ids[1]


async def outbox_headers(app: Any, case_id: str) -> list[dict[str, str]]:
    async with app.state.database.connection(write=False) as conn:
        rows = await conn.execute(select(event_outbox.c.headers).where(event_outbox.c.aggregate_id == case_id))
        return [row.headers for row in rows]


def test_log_format_defaults_to_text_in_development_and_json_elsewhere(settings: Settings) -> None:
    assert settings.model_copy(update={"environment": "development"}).effective_log_format == "text"
    assert settings.model_copy(update={"environment": "production"}).effective_log_format == "json"
    forced = settings.model_copy(update={"environment": "development", "log_format": "json"})
    assert forced.effective_log_format == "json"


async def test_log_level_and_the_access_log_switch_are_honoured(settings: Settings) -> None:
    quiet = create_app(settings.model_copy(update={"log_level": "WARNING"}))
    handler = next(h for h in logging.getLogger().handlers if getattr(h, "_case_service_handler", False))
    buffer = io.StringIO()
    handler.setStream(buffer)  # type: ignore[attr-defined]
    async with quiet.router.lifespan_context(quiet), client_for(quiet) as client:
        assert (await client.get("/api/v1/cases")).status_code == 200
    assert buffer.getvalue() == ""

    silent = create_app(settings.model_copy(update={"access_log": False}))
    handler = next(h for h in logging.getLogger().handlers if getattr(h, "_case_service_handler", False))
    handler.setStream(buffer)  # type: ignore[attr-defined]
    async with silent.router.lifespan_context(silent), client_for(silent) as client:
        assert (await client.get("/api/v1/cases")).status_code == 200
        samples = await scrape(client)
    assert "case_service.access" not in buffer.getvalue()
    # Metrics are kept whatever the logs say.
    assert sample(samples, "case_http_requests_total", route="/api/v1/cases", method="GET", status="200") == 1
