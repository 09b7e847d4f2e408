"""The real brokers of this machine, for the consumer tests: reachability, unique names, publishing.

NATS (JetStream) and RabbitMQ run here. When one cannot be reached its tests are skipped with the
reason, unless CASE_TEST_REQUIRE_BROKERS=1 (as in CI): then they fail. Each test gets its own
stream, subjects, exchange, queue and consumer name, and removes them afterwards; the brokers
themselves are shared and never stopped.
"""

from __future__ import annotations

import asyncio
import inspect
import os
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import aio_pika
import nats
import pytest

NATS_URL = os.environ.get("CASE_TEST_NATS_URL", "nats://127.0.0.1:4222")
RABBITMQ_URL = os.environ.get("CASE_TEST_RABBITMQ_URL", "amqp://guest:guest@127.0.0.1:5672/")
REQUIRE_BROKERS = os.environ.get("CASE_TEST_REQUIRE_BROKERS") == "1"
EVENT_KINDS = ("auth.user.deleted.v1", "evidence.uploaded.v1", "hypothesis.validated.v1")


async def _reach(broker: str) -> None:
    if broker == "nats":
        connection = await nats.connect(NATS_URL, connect_timeout=3, allow_reconnect=False, max_reconnect_attempts=0)
        await connection.jetstream().account_info()
        await connection.close()
    else:
        connection = await aio_pika.connect(RABBITMQ_URL, timeout=3)
        await connection.close()


def require_broker(broker: str) -> None:
    try:
        asyncio.run(_reach(broker))
    except Exception as exc:  # noqa: BLE001 - any failure to reach it is reported the same way
        message = f"{broker} unreachable: {exc!r}"
        if REQUIRE_BROKERS:
            pytest.fail(message + " (CASE_TEST_REQUIRE_BROKERS=1)")
        pytest.skip(message + "; start it to run the broker tests")


@dataclass
class BrokerNames:
    """Everything this test names on a broker, unique to the test."""

    broker: str
    tag: str

    @property
    def subjects(self) -> list[str]:
        return [f"t{self.tag}.{kind}" for kind in EVENT_KINDS]

    @property
    def stream(self) -> str:
        return f"CASE_TEST_{self.tag}"

    @property
    def exchange(self) -> str:
        return f"case-test-{self.tag}"

    @property
    def queue(self) -> str:
        return f"case-test-{self.tag}"

    @property
    def consumer(self) -> str:
        return f"case-test-{self.tag}"

    def subject(self, kind: str) -> str:
        return f"t{self.tag}.{kind}"

    def settings(self) -> dict[str, object]:
        return {
            "event_consumer_enabled": True,
            "event_consumer_broker": self.broker,
            "nats_url": NATS_URL,
            "rabbitmq_url": RABBITMQ_URL,
            "rabbitmq_exchange": self.exchange,
            "event_consumer_queue": self.queue,
            "event_consumer_nats_stream": self.stream,
            "event_consumer_subjects": self.subjects,
            "event_consumer_name": self.consumer,
        }


def new_names(broker: str) -> BrokerNames:
    return BrokerNames(broker=broker, tag=uuid.uuid4().hex[:10])


async def prepare(names: BrokerNames) -> None:
    """What the platform has before we consume: the stream, or the exchange with our bound queue."""
    if names.broker == "nats":
        connection = await nats.connect(NATS_URL)
        await connection.jetstream().add_stream(name=names.stream, subjects=names.subjects)
        await connection.close()
        return
    connection = await aio_pika.connect(RABBITMQ_URL)
    channel = await connection.channel()
    exchange = await channel.declare_exchange(names.exchange, aio_pika.ExchangeType.TOPIC, durable=True)
    queue = await channel.declare_queue(names.queue, durable=True)
    for subject in names.subjects:
        await queue.bind(exchange, routing_key=subject)
    await connection.close()


async def remove(names: BrokerNames) -> None:
    if names.broker == "nats":
        connection = await nats.connect(NATS_URL)
        try:
            await connection.jetstream().delete_stream(names.stream)
        finally:
            await connection.close()
        return
    connection = await aio_pika.connect(RABBITMQ_URL)
    channel = await connection.channel()
    await channel.queue_delete(names.queue)
    await channel.exchange_delete(names.exchange)
    await connection.close()


async def publish(names: BrokerNames, kind: str, body: bytes) -> None:
    if names.broker == "nats":
        connection = await nats.connect(NATS_URL)
        try:
            await connection.jetstream().publish(names.subject(kind), body)
        finally:
            await connection.close()
        return
    connection = await aio_pika.connect(RABBITMQ_URL)
    try:
        channel = await connection.channel()
        exchange = await channel.get_exchange(names.exchange)
        message = aio_pika.Message(body, delivery_mode=aio_pika.DeliveryMode.PERSISTENT)
        await exchange.publish(message, routing_key=names.subject(kind))
    finally:
        await connection.close()


async def eventually(
    check: Callable[[], bool | Awaitable[bool]], timeout: float = 15.0, what: str = "condition"
) -> None:
    """Wait until `check()` holds (it may be a coroutine function), polling; fail after `timeout` s."""
    deadline = time.monotonic() + timeout
    while not await _holds(check):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g}s waiting for {what}")
        await asyncio.sleep(0.05)


async def _holds(check: Callable[[], bool | Awaitable[bool]]) -> bool:
    result = check()
    return bool(await result) if inspect.isawaitable(result) else bool(result)
