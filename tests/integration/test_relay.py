"""The outbox relay against the real JetStream on this machine, on SQLite and PostgreSQL."""

from __future__ import annotations


import pytest
from fastapi import FastAPI
from httpx import AsyncClient

from case_service.config import Settings
from case_service.main import create_app
from case_service.workers.relay import OutboxRelay
from tests.api.helpers import create, post_message
from tests.brokers import eventually
from tests.conftest import client_for
from tests.integration.relays import nothing_pending, outbox_rows, relay_settings, start_relay
from tests.jetstream import TestStream


async def test_every_change_reaches_jetstream_once_in_version_order_with_cloudevents_headers(
    app: FastAPI, client: AsyncClient, settings: Settings, jetstream: TestStream, running_relays: list[OutboxRelay]
) -> None:
    first = (await create(client, title="Relayed", tags=["db"]))["case_id"]
    second = (await create(client, title="Other"))["case_id"]
    await client.put(f"/api/v1/cases/{first}", json={"severity": "high"})
    await client.post(f"/api/v1/cases/{first}/tags", json={"tags": ["outage"]})
    await client.delete(f"/api/v1/cases/{first}/tags/db")
    await client.post(f"/api/v1/cases/{first}/status", json={"status": "investigating", "reason": "seen"})
    await post_message(client, first, "it times out")
    await client.delete(f"/api/v1/cases/{second}")
    database = app.state.database
    written = await outbox_rows(database)
    assert len(written) == 8

    await start_relay(running_relays, OutboxRelay(relay_settings(settings), database, app.state.metrics, publisher=jetstream.publisher()))
    await eventually(lambda: nothing_pending(database), what="the outbox to drain")

    received = await jetstream.messages()
    assert len(received) == 8  # each once
    by_id = {row.event_id: row for row in written}
    for message in received:
        row = by_id[message.envelope["event_id"]]
        assert message.envelope == row.envelope
        assert message.subject == f"{jetstream.prefix}{row.event_type}.v1"
        assert message.headers["Nats-Msg-Id"] == row.event_id
        assert message.headers["ce-id"] == row.event_id
        assert message.headers["ce-type"] == f"{row.event_type}.v1"
        assert message.headers["ce-subject"] == row.aggregate_id
        assert message.headers["ce-specversion"] == "1.0"
        assert message.headers["ce-source"] == f"/{settings.service_name}"
        assert message.headers["ce-time"] == row.envelope["timestamp"]
    versions_of_first = [m.envelope["aggregate_version"] for m in received if m.envelope["aggregate_id"] == first]
    assert versions_of_first == [1, 2, 3, 4, 5, 6]
    assert [m.envelope["event_type"] for m in received if m.envelope["aggregate_id"] == second] == [
        "case.created",
        "case.deleted",
    ]
    marked = await outbox_rows(database)
    assert all(row.published_at is not None and row.attempts == 1 and row.last_error is None for row in marked)
    assert app.state.metrics.registry.get_sample_value("case_outbox_publish_attempts_total") == 8
    assert app.state.metrics.registry.get_sample_value("case_outbox_relay_leader") == 1


async def test_batches_marked_while_the_next_one_is_published_send_every_event_once_in_order(
    app: FastAPI, client: AsyncClient, settings: Settings, jetstream: TestStream, running_relays: list[OutboxRelay]
) -> None:
    """Batches of two, one event per case each: every cycle reads while the previous cycle's marks
    are still being written, and must leave those rows out."""
    case_ids = [(await create(client, title=f"Case {n}"))["case_id"] for n in range(3)]
    for case_id in case_ids:
        await client.put(f"/api/v1/cases/{case_id}", json={"severity": "high"})
        await client.post(f"/api/v1/cases/{case_id}/status", json={"status": "investigating"})
    database = app.state.database
    relay = OutboxRelay(
        relay_settings(settings, outbox_batch_size=2, outbox_case_batch_size=1),
        database,
        app.state.metrics,
        publisher=jetstream.publisher(),
    )
    await start_relay(running_relays, relay)
    await eventually(lambda: nothing_pending(database), what="the outbox to drain")

    received = await jetstream.messages()
    for case_id in case_ids:
        assert [m.envelope["aggregate_version"] for m in received if m.envelope["aggregate_id"] == case_id] == [1, 2, 3]
    # Each event was published once and marked once.
    assert app.state.metrics.registry.get_sample_value("case_outbox_publish_attempts_total") == 9
    assert [row.attempts for row in await outbox_rows(database)] == [1] * 9


async def test_an_idle_relay_publishes_a_new_event_without_waiting_for_its_poll(
    app: FastAPI, client: AsyncClient, settings: Settings, jetstream: TestStream, running_relays: list[OutboxRelay]
) -> None:
    database = app.state.database
    relay = OutboxRelay(
        relay_settings(settings, outbox_poll_interval=60), database, app.state.metrics, publisher=jetstream.publisher()
    )
    await start_relay(running_relays, relay)
    await eventually(lambda: relay.is_leader, what="the relay to lead")
    await create(client, title="Wake up")
    # Polling every 60 s cannot explain delivery within 5 s: the commit woke the relay.
    await eventually(lambda: jetstream.holds(1), timeout=5, what="the event on the stream")


@pytest.mark.postgres_only
@pytest.mark.parametrize("backend", ["postgresql"])
async def test_postgres_notify_wakes_a_relay_in_another_process(
    app: FastAPI, settings: Settings, jetstream: TestStream, running_relays: list[OutboxRelay]
) -> None:
    """PostgreSQL only: NOTIFY is its cross-process wake-up. The writer here is another Database
    (another engine and pool, as in another replica), so no in-process signal reaches the relay."""
    relay = OutboxRelay(
        relay_settings(settings, outbox_poll_interval=60),
        app.state.database,
        app.state.metrics,
        publisher=jetstream.publisher(),
    )
    await start_relay(running_relays, relay)
    await eventually(lambda: relay.is_leader, what="the relay to lead")
    other_replica = create_app(settings)
    async with other_replica.router.lifespan_context(other_replica):
        async with client_for(other_replica) as writer:
            await create(writer, title="From elsewhere")
        await eventually(lambda: jetstream.holds(1), timeout=5, what="the event on the stream")
