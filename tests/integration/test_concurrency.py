"""Real concurrency: many requests in flight on separate connections at once."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from httpx import AsyncClient
from sqlalchemy import func, select

from case_service.adapters.tables import case_history, case_status_transitions, event_outbox
from case_service.domain.case import TRANSITIONS, CaseStatus
from tests.conftest import FrozenClock


async def test_twenty_concurrent_untitled_creates_get_twenty_distinct_numbers(
    client: AsyncClient, clock: FrozenClock
) -> None:
    clock.now = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
    responses = await asyncio.gather(*(client.post("/api/v1/cases", json={}) for _ in range(20)))
    assert [r.status_code for r in responses] == [201] * 20
    titles = sorted(r.json()["title"] for r in responses)
    assert titles == sorted(f"Case-1122-{n}" for n in range(1, 21))


async def test_concurrent_conflicting_moves_leave_a_consistent_case(client: AsyncClient, app: object) -> None:
    case_id = (await client.post("/api/v1/cases", json={"title": "Contended"})).json()["case_id"]
    url = f"/api/v1/cases/{case_id}/status"
    targets = ["investigating", "closed", "resolved", "archived", "active"] * 4
    responses = await asyncio.gather(*(client.post(url, json={"status": t}) for t in targets))
    assert {r.status_code for r in responses} <= {200, 409}
    succeeded = [r.json() for r in responses if r.status_code == 200]
    assert succeeded, "at least the first legal move must succeed"

    final = (await client.get(f"/api/v1/cases/{case_id}")).json()
    assert final["version"] == 1 + len(succeeded)
    async with app.state.database.connection(write=False) as conn:  # type: ignore[attr-defined]
        rows = (
            await conn.execute(
                select(case_status_transitions.c.from_status, case_status_transitions.c.to_status)
                .where(case_status_transitions.c.case_id == case_id)
                .order_by(case_status_transitions.c.id)
            )
        ).all()
    # Exactly the moves that succeeded, chained one to the next, each allowed by the machine.
    assert len(rows) == len(succeeded)
    assert sorted(r.json()["version"] for r in responses if r.status_code == 200) == list(
        range(2, 2 + len(succeeded))
    )
    current = "active"
    for from_status, to_status in rows:
        assert from_status == current
        assert CaseStatus(to_status) in TRANSITIONS[CaseStatus(from_status)]
        current = to_status
    assert final["status"] == current


async def test_concurrent_appends_get_distinct_gap_free_sequences_in_commit_order(
    client: AsyncClient, app: object
) -> None:
    case_id = (await client.post("/api/v1/cases", json={"title": "Busy conversation"})).json()["case_id"]
    url = f"/api/v1/cases/{case_id}/messages"
    appends = [client.post(url, json={"role": "user", "content": f"message {n}"}) for n in range(20)]
    tag_adds = [client.post(f"/api/v1/cases/{case_id}/tags", json={"tags": [f"t{n}"]}) for n in range(5)]
    responses = await asyncio.gather(*appends, *tag_adds)
    assert [r.status_code for r in responses] == [201] * 20 + [200] * 5, [r.text for r in responses if r.is_error]

    sequences = sorted(r.json()["sequence"] for r in responses[:20])
    assert sequences == list(range(1, 21))
    listed = (await client.get(url, params={"limit": 100})).json()
    assert [m["sequence"] for m in listed["messages"]] == list(range(1, 21))
    # Each response's sequence is where its own content landed.
    by_sequence = {m["sequence"]: m["content"] for m in listed["messages"]}
    assert all(by_sequence[r.json()["sequence"]] == r.json()["content"] for r in responses[:20])

    case = (await client.get(f"/api/v1/cases/{case_id}")).json()
    assert (case["message_count"], case["version"], len(case["tags"])) == (20, 26, 5)
    async with app.state.database.connection(write=False) as conn:  # type: ignore[attr-defined]
        versions = (
            await conn.execute(
                select(event_outbox.c.aggregate_version)
                .where(event_outbox.c.aggregate_id == case_id)
                .order_by(event_outbox.c.aggregate_version)
            )
        ).scalars().all()
        audited = (
            await conn.execute(select(func.count()).select_from(case_history).where(case_history.c.case_id == case_id))
        ).scalar_one()
    assert versions == list(range(1, 27))  # one event per change, no version twice or missing
    assert audited == 26
