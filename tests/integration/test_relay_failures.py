"""The relay when things break: it dies mid-cycle, the broker goes away, a receiver refuses an event.

The brokers are the real NATS and RabbitMQ of this machine; outages are made with a TCP proxy of the
test's own, never by stopping the shared brokers.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator, Callable, Sequence
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import aio_pika
import pytest
from fastapi import FastAPI
from httpx import AsyncClient

from case_service.adapters.outbox_store import OutboxStore, PublishFailure
from case_service.adapters.publishers import OutgoingEvent, PublishFailed
from case_service.adapters.publishers.rabbitmq import RabbitMqPublisher
from case_service.adapters.publishers.webhook import WebhookPublisher
from case_service.config import Settings
from case_service.signing import SignatureRejected, verify
from case_service.workers.relay import OutboxRelay, retry_delay
from tests.api.helpers import create
from tests.brokers import eventually
from tests.conftest import make_settings
from tests.support.tcp_proxy import TcpProxy
from tests.integration.relays import nothing_pending, outbox_rows, relay_settings, start_relay
from tests.jetstream import TestStream

class SimulatedCrash(BaseException):
    """The relay process dying: nothing after it runs (not an error the relay could handle)."""


class DiesBeforeMarking(OutboxStore):
    """The relay publishes its batch, then dies before recording that it did."""

    async def settle(self, published: Sequence[int], failures: Sequence[PublishFailure], now: datetime) -> None:
        if published:
            raise SimulatedCrash(f"died after publishing {len(published)} events, before marking them")
        await super().settle(published, failures, now)


class FailsToMarkOnce(OutboxStore):
    """The first marks of published events fail, as when the database drops the connection."""

    failed = False

    async def settle(self, published: Sequence[int], failures: Sequence[PublishFailure], now: datetime) -> None:
        if published and not self.failed:
            self.failed = True
            raise ConnectionResetError("the database went away while marking")
        await super().settle(published, failures, now)


class MarksSlowly(OutboxStore):
    """Marks that take a while to commit, as under write load; `marking` is set while one is written."""

    def __init__(self, database: Any) -> None:
        super().__init__(database)
        self.marking = asyncio.Event()

    async def settle(self, published: Sequence[int], failures: Sequence[PublishFailure], now: datetime) -> None:
        if published:
            self.marking.set()
            await asyncio.sleep(0.5)
        await super().settle(published, failures, now)


async def write_some_events(client: AsyncClient) -> int:
    for title in ("One", "Two"):
        case_id = (await create(client, title=title))["case_id"]
        await client.put(f"/api/v1/cases/{case_id}", json={"severity": "high"})
        await client.post(f"/api/v1/cases/{case_id}/status", json={"status": "investigating"})
    return 6


async def crash_then_restart(
    app: FastAPI, settings: Settings, relays: list[OutboxRelay], make_publisher: Callable[[], Any]
) -> None:
    database = app.state.database
    dying = OutboxRelay(settings, database, app.state.metrics, publisher=make_publisher(), store=DiesBeforeMarking(database))
    await dying.start()
    with pytest.raises(SimulatedCrash):
        await asyncio.wait_for(dying.wait(), timeout=10)
    await dying.stop(1)
    assert len([row for row in await outbox_rows(database) if row.published_at is None]) == 6  # none marked
    await start_relay(relays, OutboxRelay(settings, database, app.state.metrics, publisher=make_publisher()))
    await eventually(lambda: nothing_pending(database), what="the restarted relay to publish")


async def test_a_relay_dying_between_publish_and_mark_leaves_each_event_once_in_jetstream(
    app: FastAPI, client: AsyncClient, settings: Settings, jetstream: TestStream, running_relays: list[OutboxRelay]
) -> None:
    written = await write_some_events(client)
    await crash_then_restart(app, relay_settings(settings), running_relays, jetstream.publisher)
    received = await jetstream.messages()
    # Published twice, stored once: JetStream dropped the repeats by Nats-Msg-Id.
    assert len(received) == written
    assert sorted(m.envelope["event_id"] for m in received) == sorted(r.event_id for r in await outbox_rows(app.state.database))


@pytest.fixture
async def amqp_queue(rabbitmq_url: str) -> AsyncIterator[tuple[str, Callable[[], Any]]]:
    """A durable topic exchange of this test's own with a queue bound to everything; yields the
    exchange name and a function that drains the queue (returning all messages so far)."""
    connection = await aio_pika.connect(rabbitmq_url)
    channel = await connection.channel()
    name = f"case-test-{time.time_ns()}"
    exchange = await channel.declare_exchange(name, aio_pika.ExchangeType.TOPIC, durable=True)
    queue = await channel.declare_queue(f"{name}.all", exclusive=True, auto_delete=True)
    await queue.bind(exchange, "#")
    received: list[aio_pika.abc.AbstractIncomingMessage] = []

    async def drain() -> list[aio_pika.abc.AbstractIncomingMessage]:
        while (message := await queue.get(no_ack=True, fail=False)) is not None:
            received.append(message)
        return received

    yield name, drain
    await exchange.delete()
    await connection.close()


async def test_a_relay_dying_between_publish_and_mark_delivers_each_event_again_with_its_message_id(
    app: FastAPI,
    client: AsyncClient,
    settings: Settings,
    rabbitmq_url: str,
    amqp_queue: tuple[str, Callable[[], Any]],
    running_relays: list[OutboxRelay],
) -> None:
    exchange, drain = amqp_queue
    written = await write_some_events(client)

    def publisher() -> RabbitMqPublisher:
        return RabbitMqPublisher(rabbitmq_url, exchange, timeout=2)

    await crash_then_restart(app, relay_settings(settings), running_relays, publisher)

    async def all_twice() -> bool:
        return len(await drain()) == 2 * written

    await eventually(all_twice, what="each event delivered by both relays")
    messages = await drain()
    ids = {row.event_id for row in await outbox_rows(app.state.database)}
    for message in messages:
        envelope = json.loads(message.body)
        assert message.message_id == envelope["event_id"] == message.headers["ce-id"]
        assert message.delivery_mode == aio_pika.DeliveryMode.PERSISTENT
        assert message.routing_key == f"{envelope['event_type']}.v1"
    assert sorted(m.message_id for m in messages) == sorted([*ids, *ids])  # at least once, same id


async def test_marks_that_fail_while_the_next_batch_goes_out_are_published_and_marked_again(
    app: FastAPI, client: AsyncClient, settings: Settings, jetstream: TestStream, running_relays: list[OutboxRelay]
) -> None:
    written = await write_some_events(client)
    database = app.state.database
    store = FailsToMarkOnce(database)
    relay = OutboxRelay(
        relay_settings(settings), database, app.state.metrics, publisher=jetstream.publisher(), store=store
    )
    await start_relay(running_relays, relay)
    await eventually(lambda: nothing_pending(database), what="the events whose marks failed to be marked")

    assert store.failed
    assert relay.last_error is not None and "the database went away while marking" in relay.last_error["error"]
    assert len(await jetstream.messages()) == written  # sent twice, stored once


async def test_a_relay_that_stops_while_its_marks_are_written_leaves_every_published_event_marked(
    app: FastAPI, client: AsyncClient, settings: Settings, jetstream: TestStream
) -> None:
    written = await write_some_events(client)
    database = app.state.database
    store = MarksSlowly(database)
    relay = OutboxRelay(
        relay_settings(settings), database, app.state.metrics, publisher=jetstream.publisher(), store=store
    )
    await relay.start()
    try:
        await asyncio.wait_for(store.marking.wait(), timeout=10)  # published; the marks are under way
    finally:
        await relay.stop(5)

    assert len(await jetstream.messages()) == written
    assert all(row.published_at is not None for row in await outbox_rows(database))


async def test_an_unroutable_rabbitmq_message_is_a_failure(rabbitmq_url: str) -> None:
    publisher = RabbitMqPublisher(rabbitmq_url, f"case-test-unbound-{time.time_ns()}", timeout=2)
    event = OutgoingEvent.from_envelope(
        {"event_id": "e1", "event_type": "case.created", "aggregate_id": "case_000000000001", "aggregate_version": 1},
        {"ce-id": "e1"},
    )
    try:
        with pytest.raises(PublishFailed):
            await publisher.publish(event)  # no queue is bound to this exchange
    finally:
        exchange = publisher._exchange  # noqa: SLF001 - the test removes what the publisher declared
        if exchange is not None:
            await exchange.delete()
        await publisher.close()


@contextlib.asynccontextmanager
async def relay_behind_a_proxy(
    app: FastAPI, settings: Settings, jetstream: TestStream, running_relays: list[OutboxRelay]
) -> AsyncIterator[TcpProxy]:
    """A running relay that reaches JetStream through a proxy the test can cut or stall; its
    publishes time out after 0.5 s."""
    broker = urlsplit(jetstream.url)
    proxy = TcpProxy(broker.hostname or "127.0.0.1", broker.port or 4222)
    await proxy.start()
    try:
        relay = OutboxRelay(
            relay_settings(settings, outbox_publish_timeout=0.5),
            app.state.database,
            app.state.metrics,
            publisher=jetstream.publisher(f"nats://127.0.0.1:{proxy.port}", timeout=0.5),
        )
        await start_relay(running_relays, relay)
        yield proxy
    finally:
        await proxy.close()


async def test_writes_succeed_through_a_broker_outage_and_every_event_arrives_in_order_after_it(
    app: FastAPI, client: AsyncClient, settings: Settings, jetstream: TestStream, running_relays: list[OutboxRelay]
) -> None:
    database = app.state.database
    async with relay_behind_a_proxy(app, settings, jetstream, running_relays) as proxy:
        first = (await create(client, title="Before the outage"))["case_id"]
        await eventually(lambda: jetstream.holds(1), what="the first event")

        await proxy.cut()
        case_ids = [first] + [(await create(client, title=f"Case {n}"))["case_id"] for n in range(49)]

        async def edit(case_id: str) -> None:  # 19 edits per case; the 50 cases side by side
            for n in range(19):
                response = await client.put(f"/api/v1/cases/{case_id}", json={"description": f"edit {n}"})
                assert response.status_code == 200, response.text

        await asyncio.gather(*(edit(case_id) for case_id in case_ids))

        async def failures_recorded() -> bool:
            return (await OutboxStore(database).pending_summary(datetime.now(UTC))).failing > 0

        await eventually(failures_recorded, what="publish failures to be recorded during the outage")
        assert await jetstream.count() == 1

        await proxy.restore()
        await eventually(lambda: nothing_pending(database), timeout=30, what="the backlog to drain after the outage")
        received = await jetstream.messages()
        assert len(received) == 1000
        versions: dict[str, list[int]] = {}
        for message in received:
            versions.setdefault(message.envelope["aggregate_id"], []).append(message.envelope["aggregate_version"])
        assert set(versions) == set(case_ids)
        for case_id, seen in versions.items():
            assert seen == list(range(1, len(seen) + 1)), f"{case_id} arrived as {seen}"
        assert sum(len(seen) for seen in versions.values()) == 1000
        retried = [row for row in await outbox_rows(database) if row.attempts > 1]
        assert retried and all(row.last_error for row in retried)



class WebhookReceiver:
    """A small HTTP endpoint that checks each signature and refuses what `refuse` says."""

    def __init__(self, secret: str, refuse: Callable[[dict[str, Any]], bool]) -> None:
        self.secret = secret
        self.refuse = refuse
        self.accepted: list[dict[str, Any]] = []
        self.bad_signatures = 0
        self._server: asyncio.Server | None = None
        self.url = ""

    async def __aenter__(self) -> WebhookReceiver:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.url = f"http://127.0.0.1:{self._server.sockets[0].getsockname()[1]}/events"
        return self

    async def __aexit__(self, *_exc: object) -> None:
        assert self._server is not None
        self._server.close()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(asyncio.IncompleteReadError, ConnectionError):
            while True:
                head = (await reader.readuntil(b"\r\n\r\n")).decode()
                headers = {
                    name.strip().lower(): value.strip()
                    for name, value in (line.split(":", 1) for line in head.split("\r\n")[1:] if ":" in line)
                }
                body = await reader.readexactly(int(headers.get("content-length", "0")))
                status = self._answer(headers, body)
                writer.write(f"HTTP/1.1 {status} -\r\ncontent-length: 0\r\n\r\n".encode())
                await writer.drain()
        writer.close()

    def _answer(self, headers: dict[str, str], body: bytes) -> int:
        try:
            verify(
                self.secret,
                headers.get("x-signature-timestamp"),
                headers.get("x-signature"),
                body,
                now=time.time(),
                tolerance=60,
            )
        except SignatureRejected:
            self.bad_signatures += 1
            return 401
        envelope = json.loads(body)
        if headers.get("ce-id") != envelope["event_id"] or self.refuse(envelope):
            return 503
        self.accepted.append(envelope)
        return 204


async def test_a_broker_that_hangs_is_recorded_as_no_acknowledgement_within_the_timeout(
    app: FastAPI, client: AsyncClient, settings: Settings, jetstream: TestStream, running_relays: list[OutboxRelay]
) -> None:
    database = app.state.database
    async with relay_behind_a_proxy(app, settings, jetstream, running_relays) as proxy:
        await create(client, title="Before the broker hangs")
        await eventually(lambda: jetstream.holds(1), what="the first event")

        proxy.stall()  # the connection stays open; nothing reaches the broker or comes back
        await create(client, title="While it hangs")

        async def failure_recorded() -> bool:
            return any(row.last_error for row in await outbox_rows(database))

        await eventually(failure_recorded, what="the unacknowledged publish to be recorded")
        row = next(row for row in await outbox_rows(database) if row.last_error)
        assert row.published_at is None and row.attempts == 1
        assert row.last_error == "nats: no acknowledgement within 0.5 s"
        assert await jetstream.count() == 1


async def test_a_refused_event_holds_back_its_own_case_only_and_is_retried_with_backoff(
    app: FastAPI, client: AsyncClient, settings: Settings, running_relays: list[OutboxRelay]
) -> None:
    blocked = (await create(client, title="Blocked"))["case_id"]
    free = (await create(client, title="Free"))["case_id"]
    for case_id in (blocked, free):
        await client.put(f"/api/v1/cases/{case_id}", json={"severity": "high"})
        await client.put(f"/api/v1/cases/{case_id}", json={"severity": "low"})
    refusing = {"on": True}

    def refuse(envelope: dict[str, Any]) -> bool:
        return refusing["on"] and envelope["aggregate_id"] == blocked and envelope["aggregate_version"] == 2

    secret = "a-webhook-secret-for-tests"
    async with WebhookReceiver(secret, refuse) as receiver:
        database = app.state.database
        relay = OutboxRelay(
            relay_settings(settings, outbox_retry_base_delay=0.05, outbox_retry_max_delay=0.2),
            database,
            app.state.metrics,
            publisher=WebhookPublisher(receiver.url, secret, timeout=2),
        )
        await start_relay(running_relays, relay)

        def delivered(case_id: str) -> list[int]:
            return [e["aggregate_version"] for e in receiver.accepted if e["aggregate_id"] == case_id]

        async def retried_a_few_times() -> bool:
            rows = {(r.aggregate_id, r.aggregate_version): r for r in await outbox_rows(database)}
            return rows[(blocked, 2)].attempts >= 3 and delivered(free) == [1, 2, 3]

        await eventually(retried_a_few_times, what="the free case delivered and the refused event retried")
        assert delivered(blocked) == [1]  # version 3 waits behind the refused version 2
        row = {(r.aggregate_id, r.aggregate_version): r for r in await outbox_rows(database)}[(blocked, 2)]
        assert row.published_at is None
        assert "503" in row.last_error
        assert row.next_attempt_at is not None
        assert relay.last_error is not None and "503" in relay.last_error["error"]

        refusing["on"] = False
        await eventually(lambda: nothing_pending(database), what="the held-back events after the receiver recovers")
        assert delivered(blocked) == [1, 2, 3]
        assert receiver.bad_signatures == 0


def test_retry_delays_grow_exponentially_with_jitter_up_to_the_cap() -> None:
    relay_config = make_settings("sqlite+aiosqlite:///:memory:", outbox_retry_base_delay=1.0, outbox_retry_max_delay=30.0)
    for attempts, full in [(1, 1.0), (2, 2.0), (3, 4.0), (5, 16.0), (6, 30.0), (40, 30.0)]:
        delays = {retry_delay(attempts, relay_config) for _ in range(50)}
        assert all(full / 2 <= d <= full for d in delays), (attempts, delays)
        assert len(delays) > 1  # jittered, not lockstep
