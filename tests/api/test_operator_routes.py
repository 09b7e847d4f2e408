"""`/internal/v1` routes admit only operators: an `admin` or a `platform-service` caller."""

from __future__ import annotations

import pytest
from fastapi import FastAPI

from case_service.api.deps import OperatorContextDep
from tests.conftest import client_for


@pytest.fixture
def guarded(app: FastAPI) -> FastAPI:
    @app.get("/internal/v1/_test_guarded")
    async def guarded_route(ctx: OperatorContextDep) -> dict[str, str]:
        return {"operator": ctx.actor.user_id}

    return app


@pytest.mark.parametrize("roles", ['["admin"]', "platform-service", "support, ADMIN"])
async def test_operators_pass(guarded: FastAPI, roles: str) -> None:
    async with client_for(guarded, "ops", **{"X-User-Roles": roles}) as ops:
        response = await ops.get("/internal/v1/_test_guarded")
    assert response.status_code == 200
    assert response.json() == {"operator": "ops"}


@pytest.mark.parametrize("roles", [None, '["support"]', "user"])
async def test_everyone_else_gets_403_with_the_error_body(guarded: FastAPI, roles: str | None) -> None:
    headers = {"X-User-Roles": roles} if roles else {}
    async with client_for(guarded, "mallory", **headers) as caller:
        response = await caller.get("/internal/v1/_test_guarded")
    assert response.status_code == 403
    body = response.json()
    assert body["code"] == "forbidden"
    assert "admin" in body["error"]


async def test_an_anonymous_caller_gets_401(guarded: FastAPI) -> None:
    async with client_for(guarded, None) as anonymous:
        response = await anonymous.get("/internal/v1/_test_guarded")
    assert response.status_code == 401
