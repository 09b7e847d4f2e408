"""The conversation of a case, over HTTP, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from httpx import AsyncClient

from case_service.adapters.tables import case_messages
from tests.api.helpers import count_rows, create, outbox_of, post_message
from tests.conftest import FrozenClock


async def test_a_message_is_added_at_the_next_sequence_and_read_back_in_order(
    client: AsyncClient, clock: FrozenClock
) -> None:
    t0 = datetime(2026, 11, 22, 9, 0, tzinfo=UTC)
    clock.now = t0
    case = await create(client, title="Checkout slow")
    clock.now = t0 + timedelta(minutes=1)
    first = await post_message(client, case["case_id"], "It times out", metadata={"source": "chat"})
    assert set(first) == {"message_id", "case_id", "sequence", "role", "content", "metadata", "created_at"}
    assert (first["case_id"], first["sequence"], first["role"]) == (case["case_id"], 1, "user")
    assert first["metadata"] == {"source": "chat"}
    assert first["message_id"].startswith("msg_")
    await post_message(client, case["case_id"], "Look at the pool", role="assistant")
    await post_message(client, case["case_id"], "You are a helper", role="system")

    listed = (await client.get(f"/api/v1/cases/{case['case_id']}/messages")).json()
    assert listed["total"] == 3
    assert [m["sequence"] for m in listed["messages"]] == [1, 2, 3]
    assert [m["role"] for m in listed["messages"]] == ["user", "assistant", "system"]
    assert listed["messages"][0] == first

    after = (await client.get(f"/api/v1/cases/{case['case_id']}/messages")).json()
    assert after == listed  # reading changes nothing
    updated = (await client.get(f"/api/v1/cases/{case['case_id']}")).json()
    assert (updated["message_count"], updated["version"]) == (3, 4)
    assert updated["updated_at"] == case["updated_at"]  # the case's own fields did not change
    assert datetime.fromisoformat(updated["last_activity_at"]) == t0 + timedelta(minutes=1)


async def test_after_limit_and_offset_fetch_only_what_is_asked(client: AsyncClient) -> None:
    case_id = (await create(client))["case_id"]
    for n in range(1, 8):
        await post_message(client, case_id, f"m{n}")
    url = f"/api/v1/cases/{case_id}/messages"
    new = (await client.get(url, params={"after": 5})).json()
    assert [m["content"] for m in new["messages"]] == ["m6", "m7"] and new["total"] == 2
    page = (await client.get(url, params={"limit": 2, "offset": 2})).json()
    assert [m["sequence"] for m in page["messages"]] == [3, 4] and page["total"] == 7
    combined = (await client.get(url, params={"after": 2, "limit": 2, "offset": 1})).json()
    assert [m["sequence"] for m in combined["messages"]] == [4, 5] and combined["total"] == 5
    assert (await client.get(url, params={"after": 99})).json() == {"messages": [], "total": 0, "limit": 50, "offset": 0}
    for bad in ({"after": -1}, {"limit": 0}, {"limit": 101}, {"after": "x"}):
        assert (await client.get(url, params=bad)).status_code == 422, bad


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"role": "robot", "content": "hi"}, "role"),
        ({"role": "user", "content": ""}, "content"),
        ({"role": "user", "content": "   "}, "content"),
        ({"role": "user", "content": "x" * 50_001}, "content"),
        ({"role": "user"}, "content"),
        ({"content": "hi"}, "role"),
        ({"role": "user", "content": "hi", "metadata": [1]}, "metadata"),
        ({"role": "user", "content": "hi", "sequence": 7}, "sequence"),
    ],
)
async def test_a_bad_message_is_refused_naming_the_field_and_adds_nothing(
    client: AsyncClient, app: object, body: dict, field: str
) -> None:
    case = await create(client)
    response = await client.post(f"/api/v1/cases/{case['case_id']}/messages", json=body)
    assert response.status_code == 422, response.text
    assert field in {error["field"] for error in response.json()["details"]["errors"]}
    assert await count_rows(app, case_messages, case_id=case["case_id"]) == 0
    assert (await client.get(f"/api/v1/cases/{case['case_id']}")).json()["version"] == 1


async def test_a_message_of_the_largest_size_is_stored_exactly(client: AsyncClient) -> None:
    case_id = (await create(client))["case_id"]
    content = ("é\n  " * 12_500)[:50_000]
    await post_message(client, case_id, content)
    assert (await client.get(f"/api/v1/cases/{case_id}/messages")).json()["messages"][0]["content"] == content


async def test_adding_a_message_writes_its_event_by_reference_at_the_new_version(
    client: AsyncClient, app: object
) -> None:
    case_id = (await create(client))["case_id"]
    message = await post_message(client, case_id, "the password is hunter2", role="user")
    events = await outbox_of(app, case_id)
    assert [(kind, version) for kind, version, _ in events] == [("case.created", 1), ("case.message.added", 2)]
    envelope = events[1][2]
    assert envelope["aggregate_version"] == 2
    assert envelope["payload"] == {
        "case_id": case_id,
        "user_id": "alice",
        "message_id": message["message_id"],
        "sequence": 1,
        "role": "user",
        "content_length": len("the password is hunter2"),
        "message_count": 1,
        "created_at": envelope["payload"]["created_at"],
    }
    assert "hunter2" not in str(envelope)


async def test_deleting_a_case_deletes_its_messages(client: AsyncClient, app: object) -> None:
    kept = (await create(client))["case_id"]
    gone = (await create(client))["case_id"]
    for case_id in (kept, gone, gone):
        await post_message(client, case_id, "hi")
    assert (await client.delete(f"/api/v1/cases/{gone}")).status_code == 204
    assert await count_rows(app, case_messages, case_id=gone) == 0
    assert await count_rows(app, case_messages, case_id=kept) == 1
    assert (await client.get(f"/api/v1/cases/{gone}/messages")).status_code == 404
    assert (await client.post(f"/api/v1/cases/{gone}/messages", json={"role": "user", "content": "x"})).status_code == 404
