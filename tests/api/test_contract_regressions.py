"""Failures the schemathesis run (tests/fuzz) found, each kept as a test of its own."""

from __future__ import annotations

import pytest
from httpx import AsyncClient

from case_service.api.schemas import CaseList
from tests.api.helpers import create


@pytest.mark.parametrize("value", ["0.5", "1796184000", "-3", "1e9"])
async def test_a_bare_number_as_a_time_bound_is_a_422_not_unix_seconds(client: AsyncClient, value: str) -> None:
    """The contract says ISO 8601; pydantic alone would have read `0.5` as 1970-01-01T00:00:00.5Z."""
    response = await client.get("/api/v1/cases", params={"updated_before": value})
    assert response.status_code == 422, response.text
    assert response.json()["details"]["errors"][0]["field"] == "updated_before"
    iso = await client.get("/api/v1/cases", params={"updated_before": "2026-12-02T04:00:00Z"})
    assert iso.status_code == 200


async def test_a_405_names_every_method_the_path_serves(client: AsyncClient) -> None:
    """Starlette named only the first route that matched the path (`Allow: GET`)."""
    response = await client.options("/api/v1/cases/case_0123456789ab")
    assert response.status_code == 405
    assert response.headers["allow"] == "DELETE, GET, PATCH, PUT"
    assert response.json()["code"] == "method_not_allowed"
    # A literal path wins over the template it also fits (`tags` is not a case id here).
    tags = await client.options("/api/v1/cases/tags")
    assert tags.status_code == 405 and tags.headers["allow"] == "GET"


async def test_a_list_with_fields_matches_the_documented_body(client: AsyncClient) -> None:
    """`fields=` cuts each case down; the contract documented only whole cases."""
    await create(client, title="Disk full")
    for fields in ("", "title,status"):
        response = await client.get("/api/v1/cases", params={"fields": fields})
        assert response.status_code == 200, response.text
        CaseList.model_validate(response.json())  # raised before CaseFields was documented
