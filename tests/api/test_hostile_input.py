"""Input that databases refuse or mangle is a clear 4xx that changes nothing, never a 500."""

from __future__ import annotations

import pytest
from httpx import AsyncClient

from case_service.adapters.tables import cases
from tests.api.test_cases import count_rows


def nested(depth: int) -> list[object]:
    value: list[object] = []
    for _ in range(depth):
        value = [value]
    return value


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"title": "a\u0000b"}, "title"),
        ({"title": "line\u0007bell"}, "title"),
        ({"description": "x\u0000"}, "description"),
        ({"metadata": {"k": "v\u0000"}}, "metadata"),
        ({"metadata": {"k\u0000": 1}}, "metadata"),
        ({"metadata": {"deep": nested(40)}}, "metadata"),
        ({"tags": ["a\u0000"]}, "tags"),
        ({"session_id": "s\u0000"}, "session_id"),
    ],
)
async def test_unstorable_text_is_refused_by_field(client: AsyncClient, app: object, body: dict, field: str) -> None:
    response = await client.post("/api/v1/cases", json=body)
    assert response.status_code == 422, response.text
    assert response.json()["details"]["errors"][0]["field"] == field
    assert await count_rows(app, cases) == 0


async def test_nan_and_infinity_in_metadata_are_refused(client: AsyncClient) -> None:
    response = await client.post(
        "/api/v1/cases",
        content=b'{"metadata": {"x": NaN, "y": Infinity}}',
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == 422
    assert "finite" in response.json()["error"]


@pytest.mark.parametrize(
    ("url", "status", "location"),
    [
        ("/api/v1/cases?tag=%00", 422, "query"),
        ("/api/v1/cases?session_id=%00", 422, "query"),
        ("/api/v1/cases/session/%00", 422, "path"),
        ("/api/v1/cases/case_%00", 404, None),
        ("/api/v1/cases?offset=99999999999999999999", 422, "query"),
    ],
)
async def test_unstorable_parameters_are_refused(client: AsyncClient, url: str, status: int, location: str | None) -> None:
    response = await client.get(url)
    assert response.status_code == status, response.text
    if location:
        assert response.json()["details"]["errors"][0]["location"] == location


async def test_a_nul_in_a_status_reason_is_refused(client: AsyncClient) -> None:
    case_id = (await client.post("/api/v1/cases", json={"title": "t"})).json()["case_id"]
    response = await client.post(f"/api/v1/cases/{case_id}/status", json={"status": "closed", "reason": "\u0000"})
    assert response.status_code == 422
    assert (await client.get(f"/api/v1/cases/{case_id}")).json()["status"] == "active"
