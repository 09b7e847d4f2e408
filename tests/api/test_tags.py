"""Adding and removing tags, and the caller's tag counts, on SQLite and PostgreSQL."""

from __future__ import annotations

from httpx import AsyncClient

from tests.api.helpers import create, outbox_of


async def test_adding_tags_normalizes_them_and_an_existing_tag_changes_nothing(
    client: AsyncClient, app: object
) -> None:
    case = await create(client, tags=["database"])
    url = f"/api/v1/cases/{case['case_id']}/tags"
    response = await client.post(url, json={"tags": [" Timeout", "DATABASE", "timeout"]})
    assert response.status_code == 200, response.text
    assert response.json()["tags"] == ["database", "timeout"]
    assert response.json()["version"] == 2

    again = await client.post(url, json={"tags": ["timeout", "Database"]})
    assert again.status_code == 200 and again.json()["version"] == 2  # nothing new: no change, no event
    events = await outbox_of(app, case["case_id"])
    assert [(kind, version) for kind, version, _ in events] == [("case.created", 1), ("case.updated", 2)]
    assert events[1][2]["payload"]["changes"] == {"tags": {"old": ["database"], "new": ["database", "timeout"]}}


async def test_removing_a_tag_matches_it_after_normalization_and_an_absent_tag_is_no_error(
    client: AsyncClient, app: object
) -> None:
    case = await create(client, tags=["database", "timeout", "a/b"])
    base = f"/api/v1/cases/{case['case_id']}/tags"
    response = await client.delete(f"{base}/%20DataBase%20")
    assert response.status_code == 200, response.text
    assert (response.json()["tags"], response.json()["version"]) == (["a/b", "timeout"], 2)
    assert (await client.delete(f"{base}/a/b")).json()["tags"] == ["timeout"]  # a tag with a slash

    absent = await client.delete(f"{base}/database")
    assert absent.status_code == 200
    assert (absent.json()["tags"], absent.json()["version"]) == (["timeout"], 3)
    events = await outbox_of(app, case["case_id"])
    assert [(kind, version) for kind, version, _ in events] == [
        ("case.created", 1),
        ("case.updated", 2),
        ("case.updated", 3),
    ]
    assert events[1][2]["payload"]["changes"]["tags"] == {
        "old": ["a/b", "database", "timeout"],
        "new": ["a/b", "timeout"],
    }
    assert (await client.delete(f"{base}/%20%20")).status_code == 422
    assert (await client.delete(f"{base}/{'x' * 51}")).status_code == 422


async def test_bad_tag_bodies_are_refused_and_change_nothing(client: AsyncClient) -> None:
    case = await create(client, tags=[f"t{i}" for i in range(19)])
    url = f"/api/v1/cases/{case['case_id']}/tags"
    for body in ({"tags": []}, {"tags": ["  "]}, {"tags": "db"}, {}, {"tags": ["x" * 51]}, {"tags": ["a", "b"]}):
        response = await client.post(url, json=body)
        assert response.status_code == 422, (body, response.text)
    assert (await client.get(f"/api/v1/cases/{case['case_id']}")).json()["version"] == 1
    twentieth = (await client.post(url, json={"tags": ["t20"]})).json()["tags"]  # the 20th fits
    assert len(twentieth) == 20 and "t20" in twentieth


async def test_the_callers_tags_come_with_how_many_cases_carry_each(client: AsyncClient, bob: AsyncClient) -> None:
    assert (await client.get("/api/v1/cases/tags")).json() == {"tags": []}
    await create(client, tags=["database", "timeout"])
    await create(client, tags=["database"])
    third = await create(client, tags=["network"])
    await create(bob, tags=["bobs-only", "database"])
    assert (await client.get("/api/v1/cases/tags")).json() == {
        "tags": [{"tag": "database", "count": 2}, {"tag": "network", "count": 1}, {"tag": "timeout", "count": 1}]
    }
    await client.delete(f"/api/v1/cases/{third['case_id']}")
    assert [t["tag"] for t in (await client.get("/api/v1/cases/tags")).json()["tags"]] == ["database", "timeout"]
    assert (await bob.get("/api/v1/cases/tags")).json() == {
        "tags": [{"tag": "bobs-only", "count": 1}, {"tag": "database", "count": 1}]
    }
