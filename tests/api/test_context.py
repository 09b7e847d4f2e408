"""The agent's case context: bounded, deterministic, cacheable, a fixed number of queries."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from httpx import AsyncClient
from sqlalchemy import event

from tests.api.helpers import create, post_message
from tests.conftest import client_for


@contextlib.contextmanager
def counted_statements(app: object) -> Iterator[list[str]]:
    statements: list[str] = []
    engine = app.state.database.engine.sync_engine  # type: ignore[attr-defined]

    def record(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", record)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", record)


async def test_the_context_holds_the_case_its_tags_status_history_and_newest_messages(app: object) -> None:
    async with client_for(app, "alice", **{"X-User-Email": "alice@example.com"}) as alice:
        case = await create(alice, title="Checkout slow", tags=["Database", "timeout"])
        case_id = case["case_id"]
        await alice.post(f"/api/v1/cases/{case_id}/status", json={"status": "investigating", "reason": "Seen twice"})
        for n in range(1, 4):
            await post_message(alice, case_id, f"message {n}", role="user" if n % 2 else "assistant")
        context = (await alice.get(f"/api/v1/cases/{case_id}/context")).json()

    assert set(context) == {"case", "tags", "status_history", "messages", "evidence"}
    assert context["evidence"] == {"items": [], "total": 0}
    assert context["case"] == (await alice_case(app, case_id))
    assert context["tags"] == ["database", "timeout"]
    [move] = context["status_history"]
    assert (move["from_status"], move["to_status"], move["reason"]) == ("active", "investigating", "Seen twice")
    assert move["actor"] == {"user_id": "alice", "email": "alice@example.com"}
    messages = context["messages"]
    assert [m["content"] for m in messages["items"]] == ["message 1", "message 2", "message 3"]
    assert {k: v for k, v in messages.items() if k != "items"} == {
        "total": 3,
        "included": 3,
        "omitted": 0,
        "included_chars": 27,
        "max_messages": 50,
        "max_chars": 50_000,
    }


async def alice_case(app: object, case_id: str) -> dict:
    async with client_for(app, "alice") as alice:
        return (await alice.get(f"/api/v1/cases/{case_id}")).json()


async def test_the_newest_messages_are_kept_within_both_bounds_and_the_rest_is_counted(client: AsyncClient) -> None:
    case_id = (await create(client))["case_id"]
    sizes = [10, 40, 5, 20, 30]  # sequences 1..5
    for n, size in enumerate(sizes, start=1):
        await post_message(client, case_id, str(n) * size)
    url = f"/api/v1/cases/{case_id}/context"

    async def window(**params: int) -> tuple[list[int], int, int]:
        body = (await client.get(url, params=params)).json()["messages"]
        return [len(m["content"]) for m in body["items"]], body["omitted"], body["included_chars"]

    assert await window(max_messages=2) == ([20, 30], 3, 50)
    assert await window(max_chars=55) == ([5, 20, 30], 2, 55)  # exactly at the bound
    assert await window(max_chars=54) == ([20, 30], 3, 50)
    # The first message that does not fit ends the window: the small older one is not slipped in.
    assert await window(max_chars=94) == ([5, 20, 30], 2, 55)
    assert await window(max_chars=29) == ([], 5, 0)  # the newest alone is too long: nothing is cut
    assert await window(max_messages=0) == ([], 5, 0)
    assert await window(max_messages=3, max_chars=1000) == ([5, 20, 30], 2, 55)
    assert await window() == (sizes, 0, 105)
    for bad in ({"max_messages": -1}, {"max_messages": 501}, {"max_chars": 1_000_001}, {"max_chars": "x"}):
        assert (await client.get(url, params=bad)).status_code == 422, bad


async def test_the_same_state_gives_the_same_bytes_and_etag_and_if_none_match_answers_304(
    client: AsyncClient,
) -> None:
    case_id = (await create(client, metadata={"b": 1, "a": {"z": 2, "y": 3}}))["case_id"]
    await post_message(client, case_id, "first", metadata={"k": "v", "a": 1})
    url = f"/api/v1/cases/{case_id}/context"
    first, second = await client.get(url), await client.get(url)
    assert first.status_code == second.status_code == 200
    assert first.content == second.content
    etag = first.headers["etag"]
    assert etag == second.headers["etag"] and etag.startswith('"')

    for header in (etag, f"W/{etag}", f'"other", {etag}', "*"):
        unchanged = await client.get(url, headers={"If-None-Match": header})
        assert unchanged.status_code == 304, header
        assert unchanged.content == b"" and unchanged.headers["etag"] == etag
    assert (await client.get(url, headers={"If-None-Match": '"stale"'})).status_code == 200

    smaller = await client.get(url, params={"max_messages": 0})
    assert smaller.headers["etag"] != etag  # other bounds, other body

    await post_message(client, case_id, "second")
    changed = await client.get(url, headers={"If-None-Match": etag})
    assert changed.status_code == 200 and changed.headers["etag"] != etag


async def test_the_context_takes_the_same_few_queries_whatever_the_number_of_messages(
    client: AsyncClient, app: object
) -> None:
    small = (await create(client))["case_id"]
    large = (await create(client, tags=["a", "b", "c"]))["case_id"]
    await post_message(client, small, "only one")
    for n in range(40):
        await post_message(client, large, f"message {n}")
    await client.post(f"/api/v1/cases/{large}/status", json={"status": "investigating"})

    counts = []
    for case_id in (small, large):
        with counted_statements(app) as statements:
            response = await client.get(f"/api/v1/cases/{case_id}/context", params={"max_messages": 100})
        assert response.status_code == 200
        counts.append(len(statements))
    assert response.json()["messages"]["included"] == 40
    assert counts[0] == counts[1], counts
    assert counts[1] <= 6, statements
