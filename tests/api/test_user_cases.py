"""One user's case list, for that user or an admin, on SQLite and PostgreSQL."""

from __future__ import annotations

from httpx import AsyncClient

from tests.api.helpers import create
from tests.conftest import client_for


async def test_a_user_lists_their_own_cases_with_the_same_parameters_and_body_as_the_case_list(
    client: AsyncClient, bob: AsyncClient
) -> None:
    await create(client, title="a", severity="high", tags=["db"])
    await create(client, title="b", severity="low")
    await create(client, title="c", severity="high")
    await create(bob, title="bob's", severity="high")
    for params in ({}, {"severity": "high"}, {"tag": "DB"}, {"limit": 1, "offset": 1}, {"status": "active"}):
        own = await client.get("/api/v1/users/alice/cases", params=params)
        assert own.status_code == 200, own.text
        assert own.json() == (await client.get("/api/v1/cases", params=params)).json(), params
    assert (await client.get("/api/v1/users/alice/cases", params={"severity": "urgent"})).status_code == 422
    assert (await client.get("/api/v1/users/alice/cases", params={"limit": 101})).status_code == 422


async def test_an_admin_lists_any_users_cases(app: object, bob: AsyncClient) -> None:
    await create(bob, title="one")
    await create(bob, title="two", severity="critical")
    async with client_for(app, "root", **{"X-User-Roles": '["admin"]'}) as admin:
        counted = {"include_total": "true"}
        listed = (await admin.get("/api/v1/users/bob/cases", params=counted)).json()
        assert [c["title"] for c in listed["cases"]] == ["two", "one"] and listed["total"] == 2
        assert {c["user_id"] for c in listed["cases"]} == {"bob"}
        critical = {**counted, "severity": "critical"}
        assert (await admin.get("/api/v1/users/bob/cases", params=critical)).json()["total"] == 1
        assert (await admin.get("/api/v1/users/nobody/cases", params=counted)).json()["total"] == 0
        own = (await admin.get("/api/v1/cases", params=counted)).json()
        assert own["total"] == 0  # the admin's own list stays their own


async def test_anyone_else_gets_404_as_if_the_user_did_not_exist(app: object, client: AsyncClient) -> None:
    await create(client)
    for headers in ({}, {"X-User-Roles": "support,auditor"}):
        async with client_for(app, "bob", **headers) as other:
            response = await other.get("/api/v1/users/alice/cases")
            assert response.status_code == 404
            assert response.json()["code"] == "user_not_found"
            missing = (await other.get("/api/v1/users/nobody/cases")).json()
            assert (missing["code"], missing["error"]) == ("user_not_found", "User nobody was not found")
            assert response.json()["error"] == "User alice was not found"  # reads exactly like a missing user
    async with client_for(app, None) as anonymous:
        assert (await anonymous.get("/api/v1/users/alice/cases")).status_code == 401
