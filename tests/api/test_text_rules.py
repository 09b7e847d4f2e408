"""Input PostgreSQL cannot store is refused with a 422 on both databases, never a 500."""

from __future__ import annotations

import pytest
from httpx import AsyncClient

from tests.api.helpers import create
from tests.conftest import client_for


NUL_INPUTS = [
    ("POST", "/api/v1/cases", {"title": "a\x00b"}, "title"),
    ("POST", "/api/v1/cases", {"metadata": {"k": ["a\x00"]}}, "metadata"),
    ("POST", "/api/v1/cases", {"tags": ["a\x00"]}, "tags"),
    ("PUT", "{case}", {"description": "\x00"}, "description"),
    ("POST", "{case}/status", {"status": "closed", "reason": "\x00"}, "reason"),
    ("POST", "{case}/messages", {"role": "user", "content": "a\x00b"}, "content"),
    ("POST", "{case}/messages", {"role": "user", "content": "ok", "metadata": {"a\x00": 1}}, "metadata"),
    ("POST", "{case}/tags", {"tags": ["a\x00"]}, "tags"),
    ("DELETE", "{case}/tags/a%00", None, "tag"),
]


@pytest.mark.parametrize(("method", "path", "body", "field"), NUL_INPUTS, ids=[f"{m} {p} {f}" for m, p, _, f in NUL_INPUTS])
async def test_a_nul_character_is_a_422_naming_the_field_on_both_databases(
    client: AsyncClient, method: str, path: str, body: dict | None, field: str
) -> None:
    case = await create(client, tags=["a"])
    url = path.format(case=f"/api/v1/cases/{case['case_id']}")
    response = await client.request(method, url, json=body)
    assert response.status_code == 422, response.text
    assert [e["field"] for e in response.json()["details"]["errors"]] == [field]
    assert (await client.get(f"/api/v1/cases/{case['case_id']}")).json()["version"] == 1


@pytest.mark.parametrize(
    ("url", "status"),
    [
        ("/api/v1/cases/case_%00", 404),
        ("/api/v1/cases/case_%00/messages", 404),
        ("/api/v1/cases/case_%00/context", 404),
        ("/api/v1/cases/case_0123456789AB", 404),
        ("/api/v1/cases/session/a%00", 422),
        ("/api/v1/cases?session_id=%00", 422),
        ("/api/v1/users/a%00/cases", 422),
        ("/api/v1/users/a%20b/cases", 422),
    ],
)
async def test_a_nul_or_malformed_id_in_a_path_or_query_is_refused_not_a_500(app: object, url: str, status: int) -> None:
    async with client_for(app, "root", **{"X-User-Roles": "admin"}) as admin:
        response = await admin.get(url)
    assert response.status_code == status, response.text
