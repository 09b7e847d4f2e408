"""The case list: filters, sorts, keyset cursor, fields and the offset cap, on SQLite and PostgreSQL."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta
from typing import Any

from httpx import AsyncClient

from tests.api.helpers import create
from tests.conftest import FrozenClock, client_for

START = datetime(2026, 3, 7, 10, 0, tzinfo=UTC)


async def titles(client: AsyncClient, url: str = "/api/v1/cases", **params: Any) -> list[str]:
    response = await client.get(url, params=params)
    assert response.status_code == 200, response.text
    return [case["title"] for case in response.json()["cases"]]


async def page_through(client: AsyncClient, url: str = "/api/v1/cases", **params: Any) -> list[dict[str, Any]]:
    """Every case the list yields, following next_cursor until it runs out."""
    seen: list[dict[str, Any]] = []
    cursor = None
    while True:
        response = await client.get(url, params={**params, **({"cursor": cursor} if cursor else {})})
        assert response.status_code == 200, response.text
        body = response.json()
        seen += body["cases"]
        cursor = body["next_cursor"]
        if cursor is None:
            assert "link" not in response.headers
            return seen
        assert response.headers["link"].endswith('>; rel="next"')


async def test_time_filters_take_offsets_bound_half_open_and_refuse_naive_times(
    client: AsyncClient, clock: FrozenClock
) -> None:
    clock.now = START
    await create(client, title="first")
    clock.now = START + timedelta(hours=1)
    second = await create(client, title="second")
    clock.now = START + timedelta(hours=2)
    await create(client, title="third")
    clock.now = START + timedelta(hours=3)
    await client.put(f"/api/v1/cases/{second['case_id']}", json={"description": "touched"})

    assert await titles(client, created_after="2026-03-07T11:00:00Z") == ["third", "second"]
    assert await titles(client, created_before="2026-03-07T11:00:00Z") == ["first"]
    # The same instant written in another offset selects the same cases.
    assert await titles(client, created_after="2026-03-07T12:00:00+01:00", created_before="2026-03-07T12:00:00Z") == [
        "second"
    ]
    assert await titles(client, updated_after="2026-03-07T13:00:00Z") == ["second"]
    assert await titles(client, updated_before="2026-03-07T11:30:00Z") == ["first"]
    for name in ("created_after", "created_before", "updated_after", "updated_before"):
        for bad in ("2026-03-07T10:00:00", "yesterday", "0001-01-01T00:00:00+05:00"):
            response = await client.get("/api/v1/cases", params={name: bad})
            assert response.status_code == 422, (name, bad, response.text)
            assert response.json()["details"]["errors"][0]["field"] == name


async def test_resolved_and_has_session_filters(client: AsyncClient) -> None:
    resolved = await create(client, title="resolved", session_id="s1")
    await create(client, title="open")
    closed = await create(client, title="closed unresolved", session_id="s2")
    for status in ("investigating", "resolved"):
        await client.post(f"/api/v1/cases/{resolved['case_id']}/status", json={"status": status})
    await client.post(f"/api/v1/cases/{closed['case_id']}/status", json={"status": "closed"})

    assert await titles(client, resolved="true") == ["resolved"]
    assert await titles(client, resolved="false") == ["closed unresolved", "open"]
    assert await titles(client, has_session="true") == ["closed unresolved", "resolved"]
    assert await titles(client, has_session="false") == ["open"]
    assert await titles(client, has_session="true", resolved="false", status="closed") == ["closed unresolved"]
    assert (await client.get("/api/v1/cases", params={"resolved": "maybe"})).status_code == 422


async def test_each_request_selects_by_its_own_values_when_it_uses_the_same_filters(
    app: object, client: AsyncClient
) -> None:
    # A list statement is built once per set of filters used and reused with each request's values.
    for title, severity, tags in (("a", "low", ["x"]), ("b", "high", ["y"]), ("c", "critical", ["x", "y"])):
        await create(client, title=title, severity=severity, tags=tags)
    assert await titles(client, severity="low") == ["a"]
    assert await titles(client, severity="high") == ["b"]
    assert await titles(client, severity=["low", "critical", "high"]) == ["c", "b", "a"]
    assert await titles(client, severity=["critical", "low"]) == ["c", "a"]  # another number of values
    assert await titles(client, tag="y") == ["c", "b"]
    assert await titles(client, tag=["y", "x"], severity=["high", "low"]) == ["b", "a"]
    assert await titles(client, tag="x", severity="low") == ["a"]
    assert await titles(client, tag="x", severity="critical") == ["c"]
    async with client_for(app, "bob") as bob:
        await create(bob, title="bob's", severity="low", tags=["x"])
        assert await titles(bob, tag="x", severity="low") == ["bob's"]
    assert await titles(client, tag="x", severity="low") == ["a"]


async def test_every_sort_orders_by_its_key_with_ties_in_creation_order(client: AsyncClient, clock: FrozenClock) -> None:
    clock.now = START
    specs = [("b", "high", None), ("a", "low", "investigating"), ("C", "critical", "closed"), ("d", "high", None)]
    for title, severity, status in specs:
        case = await create(client, title=title, severity=severity)
        if status:
            await client.post(f"/api/v1/cases/{case['case_id']}/status", json={"status": status})
        clock.now += timedelta(minutes=1)
    await client.put(f"/api/v1/cases/{(await client.get('/api/v1/cases')).json()['cases'][-1]['case_id']}", json={"description": "x"})

    assert await titles(client) == ["d", "C", "a", "b"]
    assert await titles(client, sort="created_at") == ["b", "a", "C", "d"]
    # Severity by rank, not by name; equal severities keep creation order in the sort's direction.
    assert await titles(client, sort="severity") == ["a", "b", "d", "C"]
    assert await titles(client, sort="-severity") == ["C", "d", "b", "a"]
    # Status by workflow: active < investigating < resolved < closed < archived.
    assert await titles(client, sort="status") == ["b", "d", "a", "C"]
    # Titles by code point: upper case first, on both databases.
    assert await titles(client, sort="title") == ["C", "a", "b", "d"]
    assert await titles(client, sort="-title") == ["d", "b", "a", "C"]
    # "b" was updated last (after every other change).
    assert (await titles(client, sort="-updated_at"))[0] == "b"
    for bad in ("size", "--title", "relevance", "-relevance", ""):
        response = await client.get("/api/v1/cases", params={"sort": bad})
        assert response.status_code == 422, bad
        assert response.json()["details"]["errors"][0]["field"] == "sort"


async def test_the_cursor_walks_every_sort_once_in_order_with_link_headers(
    client: AsyncClient, clock: FrozenClock
) -> None:
    clock.now = START
    for i in range(7):
        await create(client, title=f"t{i % 3}", severity=["low", "high", "medium"][i % 3])
        if i % 2:
            clock.now += timedelta(seconds=1)  # some cases share an instant
    for sort in ("created_at", "-created_at", "severity", "-severity", "title", "-title", "status", "-updated_at"):
        everything = (await client.get("/api/v1/cases", params={"sort": sort})).json()["cases"]
        paged = await page_through(client, sort=sort, limit=2)
        assert [c["case_id"] for c in paged] == [c["case_id"] for c in everything], sort
        assert len({c["case_id"] for c in paged}) == 7


async def test_the_link_header_repeats_the_request_with_the_cursor(client: AsyncClient) -> None:
    for i in range(3):
        await create(client, title=f"case {i}", severity="high")
    first = await client.get("/api/v1/cases", params={"limit": 2, "severity": "high", "fields": "title"})
    link = first.headers["link"]
    assert link.startswith("<http://testserver/api/v1/cases?") and link.endswith('>; rel="next"')
    second = await client.get(link[1 : link.index(">")])
    assert second.status_code == 200, second.text
    assert second.json()["cases"] == [{"case_id": second.json()["cases"][0]["case_id"], "title": "case 0"}]
    assert second.json()["next_cursor"] is None


async def test_paging_with_the_cursor_neither_repeats_nor_skips_while_cases_are_created(
    client: AsyncClient, clock: FrozenClock
) -> None:
    clock.now = START
    existing = [(await create(client, title=f"old {i}"))["case_id"] for i in range(6)]
    first = (await client.get("/api/v1/cases", params={"limit": 2})).json()
    seen = [c["case_id"] for c in first["cases"]]
    cursor = first["next_cursor"]
    while cursor:
        await create(client, title="arrived while paging")  # same instant as some, and newer
        clock.now += timedelta(seconds=1)
        body = (await client.get("/api/v1/cases", params={"limit": 2, "cursor": cursor})).json()
        seen += [c["case_id"] for c in body["cases"]]
        cursor = body["next_cursor"]
    assert seen == list(reversed(existing))


async def test_a_cursor_only_continues_the_selection_it_came_from(app: object, client: AsyncClient) -> None:
    for i in range(3):
        await create(client, title=f"case {i}", severity="high")
    cursor = (await client.get("/api/v1/cases", params={"limit": 1, "severity": "high"})).json()["next_cursor"]
    assert (await client.get("/api/v1/cases", params={"cursor": cursor, "severity": "high", "limit": 2})).status_code == 200
    for other in ({"severity": "low"}, {}, {"severity": "high", "sort": "created_at"}, {"severity": "high", "q": "case"}):
        response = await client.get("/api/v1/cases", params={**other, "cursor": cursor})
        assert response.status_code == 400, other
        assert (response.json()["code"], response.json()["details"]["parameter"]) == ("invalid_cursor", "cursor")
    # Another user cannot resume alice's cursor, even on alice's list as an admin would see it.
    async with client_for(app, "bob") as bob:
        assert (await bob.get("/api/v1/cases", params={"severity": "high", "cursor": cursor})).status_code == 400


async def test_an_altered_or_foreign_cursor_is_refused_with_400(client: AsyncClient) -> None:
    for i in range(2):
        await create(client, title=f"case {i}")
    cursor = (await client.get("/api/v1/cases", params={"limit": 1})).json()["next_cursor"]
    payload, signature = cursor.split(".")
    data = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    data["k"][1] += 1  # point the position elsewhere
    forged = base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode() + "." + signature
    for bad in (forged, cursor + "x", "not-a-cursor", "a.b", "é.é", "." * 3, "x" * 2000, cursor[:-2]):
        response = await client.get("/api/v1/cases", params={"cursor": bad})
        assert response.status_code == 400, (bad, response.text)
        assert response.json()["code"] == "invalid_cursor"
    both = await client.get("/api/v1/cases", params={"cursor": cursor, "offset": 1})
    assert both.status_code == 400


async def test_offset_is_capped_and_points_to_the_cursor(client: AsyncClient) -> None:
    assert (await client.get("/api/v1/cases", params={"offset": 1000})).status_code == 200
    response = await client.get("/api/v1/cases", params={"offset": 1001})
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "offset_too_deep" and "cursor" in body["error"]
    assert body["details"] == {"parameter": "offset", "max_offset": 1000}


async def test_fields_trim_each_case_and_unknown_fields_are_refused(client: AsyncClient) -> None:
    await create(client, title="light", severity="high", tags=["db"])
    body = (await client.get("/api/v1/cases", params=[("fields", "title,severity"), ("fields", "tags")])).json()
    assert list(body["cases"][0]) == ["case_id", "title", "severity", "tags"]
    assert body["cases"][0]["tags"] == ["db"]
    response = await client.get("/api/v1/cases", params={"fields": "title,password"})
    assert response.status_code == 422
    assert response.json()["details"]["errors"][0]["field"] == "fields"
    assert "password" in response.json()["error"]


async def test_total_is_counted_only_on_request(client: AsyncClient) -> None:
    for i in range(3):
        await create(client, title=f"case {i}")
    plain = (await client.get("/api/v1/cases", params={"limit": 1})).json()
    assert (plain["total"], plain["total_included"]) == (None, False)
    counted = (await client.get("/api/v1/cases", params={"limit": 1, "include_total": "true"})).json()
    assert (counted["total"], counted["total_included"]) == (3, True)


async def test_list_parameters_are_read_as_fastapi_reads_declared_ones(client: AsyncClient) -> None:
    """The list routes read their query themselves (`api/query_params.py`), by FastAPI's rules."""
    for title in ("a", "b", "c"):
        await create(client, title=title)
    # A list parameter takes every value; any other, the last one; an unknown one is ignored.
    body = (await client.get("/api/v1/cases", params=[("limit", 3), ("limit", 1), ("colour", "red")])).json()
    assert (len(body["cases"]), body["limit"]) == (1, 1)
    assert len(await titles(client, status=["active", "resolved"], severity=["medium", "low"])) == 3
    # Every invalid value is named at once, each where it was.
    response = await client.get(
        "/api/v1/cases", params=[("limit", 0), ("status", "active"), ("status", "open"), ("resolved", "maybe")]
    )
    assert response.status_code == 422
    errors = response.json()["details"]["errors"]
    assert [(e["location"], e["field"], e["type"]) for e in errors] == [
        ("query", "status.1", "enum"),
        ("query", "resolved", "bool_parsing"),
        ("query", "limit", "greater_than_equal"),
    ]
    # The caller is checked first: without X-User-ID, 401 whatever the query holds.
    for url in ("/api/v1/cases", "/api/v1/cases/session/s1", "/api/v1/users/alice/cases", "/api/v1/cases/stats"):
        anonymous = await client.get(url, params={"limit": 0, "days": 0}, headers={"X-User-ID": ""})
        assert anonymous.status_code == 401, (url, anonymous.text)


async def test_the_three_list_routes_take_the_same_parameters(app: object, client: AsyncClient) -> None:
    await create(client, title="B", session_id="s1", severity="high")
    await create(client, title="a", session_id="s1")
    await create(client, title="c", session_id="s2")
    params = {"sort": "title", "fields": "title", "include_total": "true", "limit": 1, "has_session": "true"}
    own = (await client.get("/api/v1/cases", params=params)).json()
    assert (await client.get("/api/v1/users/alice/cases", params=params)).json() == own
    in_session = (await client.get("/api/v1/cases/session/s1", params=params)).json()
    assert in_session["cases"] == [own["cases"][0]] and in_session["total"] == 2
    assert await titles(client, "/api/v1/cases/session/s1", sort="-title") == ["a", "B"]
    assert [c["title"] for c in await page_through(client, "/api/v1/users/alice/cases", sort="title", limit=1)] == [
        "B",
        "a",
        "c",
    ]
    assert (await client.get("/api/v1/cases/session/s1", params={"offset": 5000})).status_code == 400
    assert (await client.get("/api/v1/users/alice/cases", params={"fields": "nope"})).status_code == 422


async def test_hostile_list_parameters_are_refused_never_a_500(client: AsyncClient) -> None:
    await create(client, title="present")
    nasty = ["\x00", "%00", "'; DROP TABLE cases; --", "\u202e", "9" * 300, "-", "*", '"', "\\", "é" * 60]
    names = ["q", "sort", "fields", "cursor", "in", "resolved", "has_session", "created_after", "include_total"]
    for name in names:
        for value in nasty:
            for url in ("/api/v1/cases", "/api/v1/cases/stats", "/api/v1/users/alice/cases"):
                response = await client.get(url, params={name: value})
                assert response.status_code in (200, 400, 422), (url, name, value, response.text)
                if response.status_code != 200:
                    assert response.json()["code"] in ("validation_error", "invalid_cursor", "bad_request")
    for extreme in ("9999-12-31T23:59:59.999999+00:00", "0001-01-01T00:00:00+00:00", "9999-12-31T23:59:59-14:00"):
        response = await client.get("/api/v1/cases", params={"created_before": extreme, "updated_after": extreme})
        assert response.status_code in (200, 422), (extreme, response.text)


async def test_every_listed_case_carries_its_own_tags_sorted(client: AsyncClient) -> None:
    tagged = {
        "many": ["zeta", "alpha", "k8s", "db"],
        "one": ["network"],
        "none": [],
        "shared": ["db", "alpha"],
    }
    for title, tags in tagged.items():
        await create(client, title=title, tags=tags)
    seen = await page_through(client, limit=2)
    assert {case["title"]: case["tags"] for case in seen} == {title: sorted(tags) for title, tags in tagged.items()}
    single = (await client.get("/api/v1/cases", params={"tag": "network"})).json()["cases"]
    assert [(case["title"], case["tags"]) for case in single] == [("one", ["network"])]
