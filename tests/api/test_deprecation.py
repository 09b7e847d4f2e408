"""A route marked deprecated announces its sunset and successor, and its calls are counted.

The deprecated route exists only in this test: the service has none yet.
"""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from fastapi import FastAPI
from httpx import AsyncClient

from case_service.api.deprecation import deprecated
from case_service.api.deps import CaseServiceDep, ContextDep
from case_service.config import Settings
from case_service.main import create_app
from tests.api.helpers import create
from tests.conftest import client_for

LEGACY = "/api/v0/cases/{case_id}"


@pytest.fixture
async def app(settings: Settings) -> Any:
    application = create_app(settings)

    @application.get(LEGACY, **deprecated(since=date(2026, 12, 1), sunset=date(2027, 6, 1), successor="/api/v1/cases/{case_id}"))
    async def legacy_get_case(case_id: str, service: CaseServiceDep, ctx: ContextDep) -> dict[str, Any]:
        case = await service.get_case(ctx, case_id)
        return {"id": case.case_id, "name": case.title}

    async with application.router.lifespan_context(application):
        yield application


async def test_a_deprecated_route_says_when_it_goes_and_what_replaces_it(client: AsyncClient) -> None:
    case = await create(client, title="old clients")
    response = await client.get(f"/api/v0/cases/{case['case_id']}")
    assert response.status_code == 200 and response.json() == {"id": case["case_id"], "name": "old clients"}
    assert response.headers["Deprecation"] == "@1796083200"  # 2026-12-01T00:00:00Z
    assert response.headers["Sunset"] == "Tue, 01 Jun 2027 00:00:00 GMT"
    assert response.headers["Link"] == f'</api/v1/cases/{case["case_id"]}>; rel="successor-version"'


async def test_errors_from_a_deprecated_route_carry_the_notice_too(client: AsyncClient) -> None:
    response = await client.get("/api/v0/cases/case_000000000000")
    assert response.status_code == 404 and response.json()["code"] == "case_not_found"
    assert response.headers["Sunset"] == "Tue, 01 Jun 2027 00:00:00 GMT"


async def test_other_routes_carry_no_notice(client: AsyncClient) -> None:
    case = await create(client, title="current clients")
    response = await client.get(f"/api/v1/cases/{case['case_id']}")
    assert not {"deprecation", "sunset", "link"} & set(response.headers)


async def test_calls_are_counted_by_route_template(app: FastAPI, client: AsyncClient) -> None:
    case = await create(client)
    await client.get(f"/api/v0/cases/{case['case_id']}")
    async with client_for(app, "bob") as bob:
        await bob.get(f"/api/v0/cases/{case['case_id']}")
    await client.get(f"/api/v1/cases/{case['case_id']}")
    registry = app.state.metrics.registry
    assert registry.get_sample_value("case_deprecated_route_calls_total", {"route": LEGACY, "method": "GET"}) == 2
    assert registry.get_sample_value(
        "case_deprecated_route_calls_total", {"route": "/api/v1/cases/{case_id}", "method": "GET"}
    ) is None


def test_the_contract_marks_the_route_deprecated(app: FastAPI) -> None:
    assert app.openapi()["paths"][LEGACY]["get"]["deprecated"] is True


def test_a_sunset_before_the_deprecation_is_refused() -> None:
    with pytest.raises(ValueError, match="sunset"):
        deprecated(since=date(2027, 1, 1), sunset=date(2026, 1, 1), successor="/x")
