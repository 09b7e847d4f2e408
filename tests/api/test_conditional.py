"""No lost updates: every case answer carries its version as an ETag; If-Match guards each write
(stale -> 412 naming the current version, nothing changes); If-None-Match on a read -> 304."""

from __future__ import annotations

import asyncio

import pytest
from httpx import AsyncClient

from case_service.adapters.tables import case_history, case_messages, cases
from tests.api.helpers import count_rows, create, outbox_of
from tests.conftest import client_for


async def test_every_case_answer_carries_its_version_as_a_strong_etag(client: AsyncClient) -> None:
    created = await client.post("/api/v1/cases", json={"title": "Disk full"})
    case_id = created.json()["case_id"]
    assert created.headers["etag"] == '"1"'
    url = f"/api/v1/cases/{case_id}"
    assert (await client.get(url)).headers["etag"] == '"1"'
    assert (await client.put(url, json={"severity": "high"})).headers["etag"] == '"2"'
    assert (await client.post(f"{url}/status", json={"status": "investigating"})).headers["etag"] == '"3"'
    assert (await client.post(f"{url}/tags", json={"tags": ["disk"]})).headers["etag"] == '"4"'
    assert (await client.delete(f"{url}/tags/disk")).headers["etag"] == '"5"'
    patched = await client.patch(
        url, content=b'{"description": "sda1"}', headers={"Content-Type": "application/merge-patch+json"}
    )
    assert patched.headers["etag"] == '"6"' and patched.json()["version"] == 6


async def test_if_none_match_with_the_current_etag_answers_304_without_a_body(client: AsyncClient) -> None:
    case = await create(client, title="Disk full")
    url = f"/api/v1/cases/{case['case_id']}"
    for header in ('"1"', 'W/"1"', '"9", "1"', "*"):
        unchanged = await client.get(url, headers={"If-None-Match": header})
        assert unchanged.status_code == 304, header
        assert unchanged.content == b"" and unchanged.headers["etag"] == '"1"'
    await client.put(url, json={"title": "Disk almost full"})
    changed = await client.get(url, headers={"If-None-Match": '"1"'})
    assert changed.status_code == 200 and changed.json()["title"] == "Disk almost full"
    assert changed.headers["etag"] == '"2"'


async def test_if_none_match_sent_on_several_lines_is_read_as_one_list(client: AsyncClient) -> None:
    """RFC 9110 section 5.3: repeated field lines are one comma-separated list."""
    case = await create(client, title="Disk full")
    url = f"/api/v1/cases/{case['case_id']}"
    unchanged = await client.get(url, headers=[("If-None-Match", '"7"'), ("If-None-Match", '"1"')])
    assert unchanged.status_code == 304 and unchanged.content == b""
    stale = await client.get(url, headers=[("If-None-Match", '"7"'), ("If-None-Match", '"8"')])
    assert stale.status_code == 200 and stale.json()["title"] == "Disk full"
    malformed = await client.get(url, headers=[("If-None-Match", '"1"'), ("If-None-Match", "1")])
    assert malformed.status_code == 400 and malformed.json()["details"]["header"] == "If-None-Match"


async def test_if_match_sent_on_several_lines_is_read_as_one_list(client: AsyncClient) -> None:
    case = await create(client, title="Disk full")
    url = f"/api/v1/cases/{case['case_id']}"
    stale = await client.put(url, json={"title": "A"}, headers=[("If-Match", '"7"'), ("If-Match", '"8"')])
    assert stale.status_code == 412 and stale.json()["details"]["current_version"] == 1
    current = await client.put(url, json={"title": "B"}, headers=[("If-Match", '"7"'), ("If-Match", '"1"')])
    assert current.status_code == 200 and current.json()["title"] == "B" and current.headers["etag"] == '"2"'


async def test_if_none_match_does_not_reveal_another_users_case(client: AsyncClient, bob: AsyncClient) -> None:
    case = await create(client, title="Mine")
    response = await bob.get(f"/api/v1/cases/{case['case_id']}", headers={"If-None-Match": "*"})
    assert response.status_code == 404


async def _snapshot(client: AsyncClient, app: object, case_id: str) -> tuple[dict, int, int, int]:
    """What a user or a consumer could see change: the case, its messages, events and history."""
    body = (await client.get(f"/api/v1/cases/{case_id}")).json()
    return (
        body,
        await count_rows(app, case_messages, case_id=case_id),
        len(await outbox_of(app, case_id)),
        await count_rows(app, case_history, case_id=case_id),
    )


WRITES = [
    ("PUT", "", {"json": {"title": "Renamed"}}),
    ("PATCH", "", {"content": b'{"title": "Renamed"}', "headers": {"Content-Type": "application/merge-patch+json"}}),
    ("POST", "/status", {"json": {"status": "investigating"}}),
    ("POST", "/tags", {"json": {"tags": ["new"]}}),
    ("DELETE", "/tags/old", {}),
    ("POST", "/messages", {"json": {"role": "user", "content": "hello"}}),
    ("DELETE", "", {}),
]


@pytest.mark.parametrize(("method", "suffix", "kwargs"), WRITES, ids=[f"{m} {s or '/'}" for m, s, _ in WRITES])
async def test_a_stale_if_match_answers_412_with_the_current_version_and_changes_nothing(
    client: AsyncClient, app: object, method: str, suffix: str, kwargs: dict
) -> None:
    case = await create(client, title="Disk full", tags=["old"])
    case_id = case["case_id"]
    await client.put(f"/api/v1/cases/{case_id}", json={"severity": "high"})  # now at version 2
    before = await _snapshot(client, app, case_id)

    kwargs = dict(kwargs)  # the parameter is shared by both backends' runs
    headers = {**kwargs.pop("headers", {}), "If-Match": '"1"'}
    response = await client.request(method, f"/api/v1/cases/{case_id}{suffix}", headers=headers, **kwargs)

    assert response.status_code == 412, response.text
    body = response.json()
    assert body["code"] == "precondition_failed"
    assert body["details"]["current_version"] == 2
    assert set(body) == {"error", "code", "details", "correlation_id"}
    assert await _snapshot(client, app, case_id) == before


@pytest.mark.parametrize(("method", "suffix", "kwargs"), WRITES, ids=[f"{m} {s or '/'}" for m, s, _ in WRITES])
async def test_the_current_etag_in_if_match_lets_the_write_through(
    client: AsyncClient, method: str, suffix: str, kwargs: dict
) -> None:
    case = await create(client, title="Disk full", tags=["old"])
    kwargs = dict(kwargs)
    headers = {**kwargs.pop("headers", {}), "If-Match": 'W/"7", "1"'}
    response = await client.request(method, f"/api/v1/cases/{case['case_id']}{suffix}", headers=headers, **kwargs)
    assert response.status_code in (200, 201, 204), response.text


async def test_if_match_uses_the_strong_comparison_and_star_matches_any_version(client: AsyncClient) -> None:
    case = await create(client, title="Disk full")
    url = f"/api/v1/cases/{case['case_id']}"
    weak = await client.put(url, json={"title": "A"}, headers={"If-Match": 'W/"1"'})
    assert weak.status_code == 412  # RFC 9110: a weak tag never matches in If-Match
    assert (await client.put(url, json={"title": "B"}, headers={"If-Match": "*"})).status_code == 200


@pytest.mark.parametrize("header", ["1", '"1', "W/1", '"1" "2"', '"a"b"'])
async def test_a_malformed_entity_tag_is_a_400_naming_the_header(client: AsyncClient, app: object, header: str) -> None:
    case = await create(client, title="Disk full")
    response = await client.put(f"/api/v1/cases/{case['case_id']}", json={"title": "X"}, headers={"If-Match": header})
    assert response.status_code == 400, response.text
    assert response.json()["details"]["header"] == "If-Match"
    assert (await client.get(f"/api/v1/cases/{case['case_id']}")).json()["title"] == "Disk full"
    bad_read = await client.get(f"/api/v1/cases/{case['case_id']}", headers={"If-None-Match": header})
    assert bad_read.status_code == 400 and bad_read.json()["details"]["header"] == "If-None-Match"


async def test_two_writers_with_the_same_etag_one_wins_and_the_other_gets_412(app: object) -> None:
    """The lost-update race itself: both read version 1, both write with If-Match "1" at once."""
    async with client_for(app) as first, client_for(app) as second:
        case = await create(first, title="Disk full")
        url = f"/api/v1/cases/{case['case_id']}"
        answers = await asyncio.gather(
            first.put(url, json={"title": "From dashboard A"}, headers={"If-Match": '"1"'}),
            second.put(url, json={"title": "From dashboard B"}, headers={"If-Match": '"1"'}),
        )
        statuses = sorted(answer.status_code for answer in answers)
        assert statuses == [200, 412], [a.text for a in answers]
        winner = next(answer for answer in answers if answer.status_code == 200).json()
        loser = next(answer for answer in answers if answer.status_code == 412).json()
        assert loser["details"]["current_version"] == 2
        stored = (await first.get(url)).json()
        assert stored["title"] == winner["title"] and stored["version"] == 2
        assert [event for event, _, _ in await outbox_of(app, case["case_id"])] == ["case.created", "case.updated"]


async def test_a_deleted_case_answers_404_to_a_conditional_write(client: AsyncClient, app: object) -> None:
    case = await create(client, title="Disk full")
    url = f"/api/v1/cases/{case['case_id']}"
    assert (await client.delete(url, headers={"If-Match": '"1"'})).status_code == 204
    assert (await client.put(url, json={"title": "X"}, headers={"If-Match": '"1"'})).status_code == 404
    assert await count_rows(app, cases) == 0
