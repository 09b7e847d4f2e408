"""Who may call, and what every failure looks like."""

from __future__ import annotations

import time

import pytest
from fastapi import FastAPI
from httpx import AsyncClient

from case_service.api.deps import parse_roles
from case_service.domain.errors import BadRequest
from case_service.main import create_app
from tests.conftest import client_for, make_settings

ERROR_KEYS = {"error", "code", "details", "correlation_id"}


async def test_a_missing_or_blank_user_is_401(app: FastAPI) -> None:
    for headers in ({}, {"X-User-ID": "   "}):
        async with client_for(app, None, **headers) as anonymous:
            response = await anonymous.get("/api/v1/cases")
        assert response.status_code == 401
        assert set(response.json()) == ERROR_KEYS
        assert response.json()["code"] == "unauthenticated"


async def test_two_user_ids_are_refused_not_guessed(app: FastAPI) -> None:
    async with client_for(app, None) as anonymous:
        response = await anonymous.get("/api/v1/cases", headers=[("X-User-ID", "alice"), ("X-User-ID", "bob")])
    assert response.status_code == 400
    assert "more than once" in response.json()["error"]


@pytest.mark.parametrize("user_id", ["a" * 129, "alice bob", "al\tice", "<script>"])
async def test_a_malformed_user_id_is_refused(app: FastAPI, user_id: str) -> None:
    async with client_for(app, None) as anonymous:
        response = await anonymous.get("/api/v1/cases", headers={"X-User-ID": user_id})
    assert response.status_code == 400


async def test_get_by_id_checks_the_caller_as_the_other_routes_do(app: FastAPI, client: AsyncClient) -> None:
    # GET by id calls the caller's check itself, not through the dependency every other route uses.
    case_id = (await client.post("/api/v1/cases", json={"title": "mine"})).json()["case_id"]
    path = f"/api/v1/cases/{case_id}"
    async with client_for(app, None) as anonymous:
        missing = await anonymous.get(path)
        twice = await anonymous.get(path, headers=[("X-User-ID", "alice"), ("X-User-ID", "bob")])
        malformed = await anonymous.get(path, headers={"X-User-ID": "alice bob"})
        roles = await anonymous.get(path, headers={"X-User-ID": "alice", "X-User-Roles": '["admin"'})
    assert (missing.status_code, missing.json()["code"]) == (401, "unauthenticated")
    assert twice.status_code == 400 and "more than once" in twice.json()["error"]
    assert malformed.status_code == 400 and roles.status_code == 400
    async with client_for(app, "bob") as bob:
        assert (await bob.get(path)).status_code == 404
    assert (await client.get(path)).json()["title"] == "mine"


def test_roles_are_read_as_a_json_array_or_a_comma_list() -> None:
    assert parse_roles('["admin", "Support"]') == {"admin", "support"}
    assert parse_roles("admin, support,") == {"admin", "support"}
    assert parse_roles(None) == frozenset()
    for bad in ('["admin"', "[1, 2]", "ad min"):
        with pytest.raises(BadRequest):
            parse_roles(bad)


async def test_unknown_routes_and_methods_use_the_error_body(client: AsyncClient) -> None:
    missing = await client.get("/api/v1/nowhere")
    assert missing.status_code == 404 and set(missing.json()) == ERROR_KEYS
    wrong_method = await client.delete("/api/v1/cases")
    assert wrong_method.status_code == 405
    assert wrong_method.json()["code"] == "method_not_allowed"
    assert wrong_method.headers["allow"]


async def test_an_unexpected_failure_is_a_500_that_leaks_nothing(settings: object) -> None:
    app = create_app(settings)  # type: ignore[arg-type]

    @app.get("/api/v1/explode")
    async def explode() -> None:
        raise RuntimeError("password=hunter2 in a stack trace")

    async with client_for(app) as c:
        response = await c.get("/api/v1/explode", headers={"X-Correlation-ID": "trace-me"})
    assert response.status_code == 500
    body = response.json()
    assert body["code"] == "internal_error" and body["correlation_id"] == "trace-me"
    assert "hunter2" not in response.text and "RuntimeError" not in response.text


async def test_the_correlation_id_is_echoed_or_made(client: AsyncClient) -> None:
    given = await client.get("/api/v1/cases", headers={"X-Request-ID": "req-42"})
    assert given.headers["x-correlation-id"] == "req-42"
    made = await client.get("/api/v1/cases")
    assert len(made.headers["x-correlation-id"]) == 32
    assert made.headers["x-correlation-id"] != (await client.get("/api/v1/cases")).headers["x-correlation-id"]
    # A request with trace context and no id of its own is known by its trace id.
    trace_id = "4bf92f3577b34da6a3ce929d0e0e4736"
    traced = await client.get("/api/v1/cases", headers={"traceparent": f"00-{trace_id}-00f067aa0ba902b7-01"})
    assert traced.headers["x-correlation-id"] == trace_id
    unsafe = await client.get("/api/v1/cases", headers={"X-Correlation-ID": "bad value\x7f" * 3})
    assert unsafe.headers["x-correlation-id"] != "bad value\x7f" * 3


async def test_errors_carry_the_correlation_id(client: AsyncClient) -> None:
    response = await client.get("/api/v1/cases/case_000000000000", headers={"X-Correlation-ID": "c-1"})
    assert response.json()["correlation_id"] == "c-1"


async def test_health_needs_no_identity_and_no_database(app: FastAPI) -> None:
    async with client_for(app, None) as anonymous:
        health = await anonymous.get("/health")
        ready = await anonymous.get("/ready")
    assert health.status_code == 200 and health.json()["status"] == "ok"
    assert ready.status_code == 200 and ready.json()["checks"]["database"]["status"] == "up"


async def test_ready_is_503_within_a_second_when_the_database_is_unreachable() -> None:
    # Nothing listens on port 9 here; the pool must fail fast, not hang.
    settings = make_settings("postgresql+asyncpg://postgres@127.0.0.1:9/none", database_connect_timeout=0.5)
    app = create_app(settings)
    async with app.router.lifespan_context(app), client_for(app, None) as anonymous:
        started = time.monotonic()
        response = await anonymous.get("/ready")
        elapsed = time.monotonic() - started
    assert response.status_code == 503
    assert response.json()["checks"]["database"]["status"] == "down"
    assert elapsed < 1.5
