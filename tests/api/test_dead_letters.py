"""Dead letters over `/internal/v1`: listed, replayed through the inbox guard, deleted; operators only."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from httpx import AsyncClient

from case_service.service.platform_events import describe_failure
from tests.api.helpers import create
from tests.conftest import client_for
from tests.events import (
    OPERATOR,
    body_of,
    break_evidence_store,
    envelope,
    evidence_event,
    repair_evidence_store,
)


@pytest.fixture
async def ops(app: Any) -> AsyncIterator[AsyncClient]:
    async with client_for(app, "ops", **OPERATOR) as client:
        yield client


@pytest.fixture
async def broken_store(app: Any) -> AsyncIterator[None]:
    await break_evidence_store(app.state.database)
    try:
        yield
    finally:
        await repair_evidence_store(app.state.database)


async def fail_like_the_consumer(app: Any, body: bytes, attempts: int = 3) -> int:
    """What the consumer does with a delivery that keeps failing: try, then dead-letter it."""
    events = app.state.platform_events
    error = None
    for _ in range(attempts):
        try:
            await events.receive(body, "nats")
        except Exception as exc:  # noqa: BLE001
            error = describe_failure(exc)
        else:
            raise AssertionError("the delivery was expected to fail")
    assert error is not None
    return int(await events.dead_letter(body, "nats", error, attempts))


async def test_a_poison_event_replayed_after_the_fix_applies_once(
    app: Any, client: AsyncClient, ops: AsyncClient, broken_store: None
) -> None:
    case_id = (await create(client))["case_id"]
    event = evidence_event(case_id, "ev_poison")
    dead_letter_id = await fail_like_the_consumer(app, body_of(event))

    listed = (await ops.get("/internal/v1/dead-letters")).json()
    [dead] = listed["dead_letters"]
    assert listed["total"] == 1
    assert dead["id"] == dead_letter_id
    assert (dead["event_id"], dead["event_type"], dead["source"], dead["attempts"]) == (
        event["event_id"],
        "evidence.uploaded",
        "nats",
        3,
    )
    assert "the evidence store is broken" in dead["error"]
    assert dead["body"] == body_of(event).decode()
    assert (dead["replayed_at"], dead["replay_outcome"]) == (None, None)

    still_broken = await ops.post(f"/internal/v1/dead-letters/{dead_letter_id}/replay")
    assert (still_broken.status_code, still_broken.json()["code"]) == (409, "replay_failed")
    assert (await ops.get("/internal/v1/dead-letters")).json()["dead_letters"][0]["attempts"] == 4

    await repair_evidence_store(app.state.database)
    first = await ops.post(f"/internal/v1/dead-letters/{dead_letter_id}/replay")
    second = await ops.post(f"/internal/v1/dead-letters/{dead_letter_id}/replay")

    assert first.status_code == 200, first.text
    assert first.json()["outcome"] == "applied"
    assert second.json()["outcome"] == "duplicate"
    evidence = (await client.get(f"/api/v1/cases/{case_id}/evidence")).json()
    assert [e["evidence_id"] for e in evidence["evidence"]] == ["ev_poison"]
    assert (await client.get(f"/api/v1/cases/{case_id}")).json()["version"] == 2
    marked = (await ops.get("/internal/v1/dead-letters")).json()["dead_letters"][0]
    assert marked["replayed_at"] is not None and marked["replay_outcome"] == "duplicate"


async def test_a_malformed_dead_letter_fails_its_replay_and_can_be_deleted(app: Any, ops: AsyncClient) -> None:
    body = body_of(envelope("auth.user.deleted", {"user_id": "alice"}, schema_version="2.0.0"))
    dead_letter_id = await app.state.platform_events.dead_letter(body, "rabbitmq", "unsupported", 1)

    replay = await ops.post(f"/internal/v1/dead-letters/{dead_letter_id}/replay")
    deleted = await ops.delete(f"/internal/v1/dead-letters/{dead_letter_id}")
    deleted_again = await ops.delete(f"/internal/v1/dead-letters/{dead_letter_id}")
    replay_gone = await ops.post(f"/internal/v1/dead-letters/{dead_letter_id}/replay")

    assert replay.status_code == 409
    assert "unsupported_schema_version" in replay.json()["error"]
    assert deleted.status_code == 204
    assert (deleted_again.status_code, deleted_again.json()["code"]) == (404, "dead_letter_not_found")
    assert replay_gone.status_code == 404
    assert (await ops.get("/internal/v1/dead-letters")).json()["total"] == 0


async def test_an_unreadable_delivery_is_kept_byte_for_byte(app: Any, ops: AsyncClient) -> None:
    raw = b'\xff\xfe{"event_id": "\x00'
    await app.state.platform_events.dead_letter(raw, "nats", "malformed_event: body: is not JSON", 1)
    [dead] = (await ops.get("/internal/v1/dead-letters")).json()["dead_letters"]
    assert (dead["event_id"], dead["event_type"]) == (None, None)
    assert dead["body"] == raw.decode("utf-8", errors="replace")


async def test_dead_letters_page_newest_first(app: Any, ops: AsyncClient) -> None:
    ids = [await app.state.platform_events.dead_letter(b"{}", "nats", f"error {n}", 1) for n in range(3)]
    page = (await ops.get("/internal/v1/dead-letters", params={"limit": 2, "offset": 1})).json()
    assert [d["id"] for d in page["dead_letters"]] == [ids[1], ids[0]]
    assert (page["total"], page["limit"], page["offset"]) == (3, 2, 1)


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/internal/v1/dead-letters"),
        ("POST", "/internal/v1/dead-letters/1/replay"),
        ("DELETE", "/internal/v1/dead-letters/1"),
    ],
)
async def test_dead_letters_are_for_operators_only(app: Any, client: AsyncClient, method: str, path: str) -> None:
    dead_letter_id = await app.state.platform_events.dead_letter(b"{}", "nats", "error", 1)
    response = await client.request(method, path.replace("/1", f"/{dead_letter_id}"))
    assert (response.status_code, response.json()["code"]) == (403, "forbidden")
    async with client_for(app, "ops", **OPERATOR) as ops:
        assert (await ops.get("/internal/v1/dead-letters")).json()["total"] == 1


@pytest.mark.parametrize("bad_id", ["0", "-1", "abc", str(2**63)])
async def test_a_bad_dead_letter_id_answers_422(ops: AsyncClient, bad_id: str) -> None:
    response = await ops.post(f"/internal/v1/dead-letters/{bad_id}/replay")
    assert response.status_code == 422
    assert response.json()["code"] == "validation_error"
