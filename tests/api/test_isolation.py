"""Every conversation, tag, history and context call on another user's case answers 404, changes
nothing and tells nothing — exactly like a case that does not exist."""

from __future__ import annotations

import pytest
from httpx import AsyncClient

from tests.api.helpers import create, post_message

ENDPOINTS = [
    ("GET", "/api/v1/cases/{case_id}/messages", None),
    ("POST", "/api/v1/cases/{case_id}/messages", {"role": "user", "content": "injected"}),
    ("POST", "/api/v1/cases/{case_id}/tags", {"tags": ["bobs"]}),
    ("DELETE", "/api/v1/cases/{case_id}/tags/database", None),
    ("GET", "/api/v1/cases/{case_id}/history", None),
    ("GET", "/api/v1/cases/{case_id}/transitions", None),
    ("GET", "/api/v1/cases/{case_id}/context", None),
]


@pytest.mark.parametrize(("method", "path", "body"), ENDPOINTS, ids=[f"{m} {p}" for m, p, _ in ENDPOINTS])
async def test_another_users_case_is_404_like_a_missing_one_and_stays_unchanged(
    client: AsyncClient, bob: AsyncClient, method: str, path: str, body: dict | None
) -> None:
    case = await create(client, tags=["database"])
    await post_message(client, case["case_id"], "alice's secret")
    before = [(await client.get(url)).json() for url in _views(case["case_id"])]

    foreign = await bob.request(method, path.format(case_id=case["case_id"]), json=body)
    missing = await bob.request(method, path.format(case_id="case_000000000000"), json=body)
    assert foreign.status_code == missing.status_code == 404
    assert foreign.json()["code"] == missing.json()["code"] == "case_not_found"
    assert "secret" not in foreign.text

    assert [(await client.get(url)).json() for url in _views(case["case_id"])] == before


async def test_another_users_tags_and_list_stay_out_of_sight(client: AsyncClient, bob: AsyncClient) -> None:
    await create(client, tags=["alices"])
    assert (await bob.get("/api/v1/cases/tags")).json() == {"tags": []}
    assert (await bob.get("/api/v1/users/alice/cases")).status_code == 404


def _views(case_id: str) -> list[str]:
    base = f"/api/v1/cases/{case_id}"
    return [base, f"{base}/messages", f"{base}/history", f"{base}/context"]

