"""The consumer against the real brokers of this machine (NATS JetStream and RabbitMQ), on SQLite
and PostgreSQL: duplicates, a crash between commit and acknowledgement, poison messages and their
replay, and a 5,000-case user deletion while the API keeps answering."""

from __future__ import annotations

import asyncio
import os
import statistics
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest
from httpx import AsyncClient
from sqlalchemy import insert, select

from case_service.adapters.tables import case_evidence, case_tags, cases, event_dead_letter, event_outbox
from case_service.config import Settings
from tests.api.helpers import count_rows, create
from tests.brokers import BrokerNames, eventually, new_names, prepare, publish, remove, require_broker
from tests.conftest import client_for, make_settings
from tests.events import OPERATOR, body_of, break_evidence_store, envelope, evidence_event, repair_evidence_store

EVIDENCE = "evidence.uploaded.v1"
USER_DELETED = "auth.user.deleted.v1"


@pytest.fixture(params=["nats", "rabbitmq"])
async def names(request: pytest.FixtureRequest) -> AsyncIterator[BrokerNames]:
    broker = str(request.param)
    await asyncio.to_thread(require_broker, broker)
    chosen = new_names(broker)
    await prepare(chosen)
    yield chosen
    await remove(chosen)


@pytest.fixture
def settings(database_url: str, names: BrokerNames) -> Settings:
    return make_settings(
        database_url,
        **names.settings(),
        event_consumer_ack_wait=1.0,
        event_consumer_max_attempts=3,
        event_consumer_retry_backoff=0.01,
    )


def sample(app: Any, name: str, **labels: str) -> float:
    return app.state.metrics.registry.get_sample_value(name, labels or None) or 0.0


async def test_a_duplicate_delivery_applies_once(app: Any, client: AsyncClient, names: BrokerNames) -> None:
    case_id = (await create(client))["case_id"]
    body = body_of(evidence_event(case_id, "ev_dup"))

    await publish(names, EVIDENCE, body)
    await publish(names, EVIDENCE, body)

    await eventually(lambda: sample(app, "case_inbox_duplicates_total") == 1, what="the duplicate")
    # The HTTP ingress shares the inbox consumer name: the same event over HTTP is a duplicate too.
    async with client_for(app, "ops", **OPERATOR) as ops:
        over_http = await ops.post("/internal/v1/events", content=body)
    assert over_http.json()["outcome"] == "duplicate"
    assert sample(app, "case_inbox_events_processed_total", event_type="evidence.uploaded") == 1
    assert await count_rows(app, case_evidence) == 1
    assert await count_rows(app, event_outbox, event_type="case.evidence.added") == 1
    assert (await client.get(f"/api/v1/cases/{case_id}")).json()["version"] == 2


async def test_a_crash_after_commit_and_before_ack_applies_once(
    app: Any, client: AsyncClient, names: BrokerNames
) -> None:
    consumer = app.state.workers[0]
    case_id = (await create(client))["case_id"]
    committed_then_crashed = []
    acknowledge = consumer.acknowledge

    async def crash_once(delivery: Any) -> None:
        if not committed_then_crashed:
            committed_then_crashed.append(await count_rows(app, case_evidence))
            raise ConnectionResetError("the process died before acknowledging")
        await acknowledge(delivery)

    consumer.acknowledge = crash_once
    await publish(names, EVIDENCE, body_of(evidence_event(case_id, "ev_crash")))

    # The broker delivers the unacknowledged event again (JetStream after the ack wait, RabbitMQ
    # when the dead connection's channel closes); the inbox makes every later delivery a no-op.
    # At least once: with this test's ack wait of 1 s, JetStream may deliver it again while a
    # redelivery waits its turn in the client, and the count can pass 1 between two polls.
    await eventually(lambda: sample(app, "case_inbox_duplicates_total") >= 1, what="the redelivery")
    assert committed_then_crashed == [1]
    assert sample(app, "case_inbox_events_processed_total", event_type="evidence.uploaded") == 1
    assert await count_rows(app, case_evidence) == 1
    assert await count_rows(app, event_outbox, event_type="case.evidence.added") == 1


async def test_a_poison_message_is_dead_lettered_and_its_replay_after_the_fix_applies_once(
    app: Any, client: AsyncClient, names: BrokerNames
) -> None:
    case_id = (await create(client))["case_id"]
    event = evidence_event(case_id, "ev_poison")
    unsupported = envelope("auth.user.deleted", {"user_id": "alice"}, schema_version="2.0.0")
    await break_evidence_store(app.state.database)
    try:
        await publish(names, EVIDENCE, body_of(event))
        await publish(names, USER_DELETED, body_of(unsupported))
        await eventually(lambda: sample(app, "case_inbox_dead_letters_total") == 2, what="two dead letters")
    finally:
        await repair_evidence_store(app.state.database)

    async with client_for(app, "ops", **OPERATOR) as ops:
        letters = {d["event_id"]: d for d in (await ops.get("/internal/v1/dead-letters")).json()["dead_letters"]}
        poison, malformed = letters[event["event_id"]], letters[unsupported["event_id"]]
        # Retried up to EVENT_CONSUMER_MAX_ATTEMPTS; an unknown major schema version is not retried.
        assert (poison["attempts"], poison["source"]) == (3, names.broker)
        assert "the evidence store is broken" in poison["error"]
        assert malformed["attempts"] == 1 and malformed["error"].startswith("unsupported_schema_version")

        first = await ops.post(f"/internal/v1/dead-letters/{poison['id']}/replay")
        second = await ops.post(f"/internal/v1/dead-letters/{poison['id']}/replay")

    assert (first.json()["outcome"], second.json()["outcome"]) == ("applied", "duplicate")
    assert await count_rows(app, case_evidence) == 1
    assert await count_rows(app, event_outbox, event_type="case.evidence.added") == 1
    assert (await client.get("/api/v1/cases", params={"include_total": "true"})).json()["total"] == 1  # the 2.0.0 deletion never applied
    assert await count_rows(app, event_dead_letter) == 2


# The service's latency objective (seed 001 §3.2.2: p99 under 500 ms). Reads of another user's
# case must keep meeting it while the deletion runs.
LATENCY_OBJECTIVE = 0.5
# CASE_TEST_USER_DELETION_CASES=50000 runs the same proof at the scale the issue names (slower).
CASES_TO_DELETE = int(os.environ.get("CASE_TEST_USER_DELETION_CASES", "5000"))


async def test_deleting_a_user_with_5000_cases_announces_each_while_other_reads_stay_fast(
    app: Any, client: AsyncClient, bob: AsyncClient, names: BrokerNames
) -> None:
    await seed_cases(app, "alice", CASES_TO_DELETE)
    bobs = (await create(bob))["case_id"]
    baseline = await latencies(bob, bobs, count=30)
    done = asyncio.Event()

    async def read_while_deleting() -> list[float]:
        measured: list[float] = []
        while not done.is_set():
            measured += await latencies(bob, bobs, count=1)
        return measured

    readers = asyncio.create_task(read_while_deleting())
    started = time.perf_counter()
    await publish(names, USER_DELETED, body_of(envelope("auth.user.deleted", {"user_id": "alice"})))
    try:
        await eventually(
            lambda: sample(app, "case_inbox_events_processed_total", event_type="auth.user.deleted") == 1,
            timeout=max(120, CASES_TO_DELETE / 100),
            what="the deletion of 5,000 cases",
        )
    finally:
        elapsed = time.perf_counter() - started
        done.set()
        during = await readers

    assert await count_rows(app, cases, user_id="alice") == 0
    # Never redelivered though it may outlast the 1 s ack wait (at 50,000 cases it takes tens of
    # seconds): each batch extends the deadline.
    assert sample(app, "case_inbox_duplicates_total") == 0
    assert await user_deleted_announcements(app) == CASES_TO_DELETE
    assert (await bob.get(f"/api/v1/cases/{bobs}")).status_code == 200
    p50, p99 = quantiles(during)
    print(
        f"\n[{names.broker}/{app.state.database.dialect}] deleted {CASES_TO_DELETE} cases in {elapsed:.2f}s; "
        f"GET another user's case: baseline p50 {quantiles(baseline)[0] * 1000:.1f} ms, during deletion "
        f"{len(during)} reads p50 {p50 * 1000:.1f} ms p99 {p99 * 1000:.1f} ms max {max(during) * 1000:.1f} ms"
    )
    assert len(during) >= 20, "too few reads ran during the deletion to judge its latency"
    assert p99 < LATENCY_OBJECTIVE, f"p99 {p99:.3f}s during the deletion breaks the {LATENCY_OBJECTIVE}s objective"


async def seed_cases(app: Any, user_id: str, count: int) -> None:
    """`count` cases with a tag each, written directly (creating them over HTTP would take minutes)."""
    now = datetime.now(UTC)
    rows = [
        {
            "case_id": f"case_{n:012x}",
            "user_id": user_id,
            "title": f"Case {n}",
            "description": "",
            "status": "active",
            "severity": "medium",
            "category": "other",
            "metadata": {},
            "created_at": now,
            "updated_at": now,
            "version": 1,
            "message_count": 0,
            "last_activity_at": now,
        }
        for n in range(1, count + 1)
    ]
    async with app.state.database.connection(write=True) as conn:
        await conn.execute(insert(cases), rows)
        tags = [{"case_id": row["case_id"], "tag": "bulk", "user_id": user_id} for row in rows]
        await conn.execute(insert(case_tags), tags)
        await conn.commit()


async def latencies(client: AsyncClient, case_id: str, count: int) -> list[float]:
    measured = []
    for _ in range(count):
        started = time.perf_counter()
        response = await client.get(f"/api/v1/cases/{case_id}")
        measured.append(time.perf_counter() - started)
        assert response.status_code == 200
    return measured


def quantiles(values: list[float]) -> tuple[float, float]:
    if len(values) < 2:
        return values[0], values[0]
    cuts = statistics.quantiles(values, n=100, method="inclusive")
    return cuts[49], cuts[98]


async def user_deleted_announcements(app: Any) -> int:
    async with app.state.database.connection(write=False) as conn:
        rows = await conn.execute(select(event_outbox.c.envelope).where(event_outbox.c.event_type == "case.deleted"))
        reasons = [row.envelope["payload"]["reason"] for row in rows]
    assert set(reasons) <= {"user_deleted"}
    return len(reasons)




async def test_the_consumer_runs_in_the_api_only_when_enabled(database_url: str) -> None:
    from case_service.main import create_app
    from case_service.workers.consumer import EventConsumer

    app = create_app(make_settings(database_url))
    async with app.router.lifespan_context(app):
        assert not any(isinstance(worker, EventConsumer) for worker in app.state.workers)
