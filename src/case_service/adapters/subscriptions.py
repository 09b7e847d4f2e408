"""Reading platform events from a broker: a durable JetStream consumer, or a durable RabbitMQ queue.

A subscription hands each delivery to a callback and acknowledges nothing by itself: the callback
acknowledges once the event's effect is committed. What is not acknowledged (the process died,
the callback failed) is delivered again by the broker: JetStream after the ack wait, RabbitMQ when
the channel closes.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Protocol

import aio_pika
import nats
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from nats.js.errors import NotFoundError

FETCH_BATCH = 10
FETCH_WAIT = 1.0
# Deliveries a RabbitMQ consumer holds unacknowledged at once.
RABBITMQ_PREFETCH = FETCH_BATCH


class Delivery(Protocol):
    body: bytes

    async def ack(self) -> None:
        """Tell the broker the event is done: it will not come again."""

    async def keep_alive(self) -> None:
        """Still working on it (between retries): do not redeliver it to someone else yet."""


Handler = Callable[[Delivery], Awaitable[None]]


class Subscription(Protocol):
    source: str

    async def run(self, handle: Handler) -> None:
        """Connect, subscribe, and hand every delivery to `handle` until cancelled or disconnected."""


class NatsDelivery:
    def __init__(self, message: Any) -> None:
        self._message = message
        self.body: bytes = message.data

    async def ack(self) -> None:
        await self._message.ack()

    async def keep_alive(self) -> None:
        await self._message.in_progress()


class NatsSubscription:
    """One durable pull consumer per subject on `stream` (created with the subjects if missing).

    One consumer per subject rather than one with several filters: this machine's NATS (2.9) has
    no multi-subject filters, and per-subject consumers also accept wildcard subjects.
    """

    source = "nats"

    def __init__(self, url: str, stream: str, subjects: Sequence[str], durable_prefix: str, ack_wait: float) -> None:
        self._url = url
        self._stream = stream
        self._subjects = list(subjects)
        self._durable_prefix = durable_prefix
        self._ack_wait = ack_wait

    async def run(self, handle: Handler) -> None:
        connection = await nats.connect(
            self._url, connect_timeout=5, allow_reconnect=False, name=f"{self._durable_prefix}-consumer"
        )
        try:
            jetstream = connection.jetstream()
            try:
                await jetstream.stream_info(self._stream)
            except NotFoundError:
                await jetstream.add_stream(name=self._stream, subjects=self._subjects)
            pulls = [
                await jetstream.pull_subscribe(
                    subject,
                    durable=durable_name(self._durable_prefix, subject),
                    stream=self._stream,
                    config=ConsumerConfig(
                        ack_policy=AckPolicy.EXPLICIT,
                        deliver_policy=DeliverPolicy.ALL,
                        ack_wait=self._ack_wait,
                        max_deliver=-1,
                    ),
                )
                for subject in self._subjects
            ]
            # One failing subject stops the others before the connection closes under them.
            async with asyncio.TaskGroup() as group:
                for pull in pulls:
                    group.create_task(self._drain(pull, connection, handle))
        finally:
            with contextlib.suppress(Exception):
                await connection.close()

    @staticmethod
    async def _drain(pull: Any, connection: Any, handle: Handler) -> None:
        while True:
            if connection.is_closed:
                raise ConnectionError("the NATS connection closed")
            try:
                messages = await pull.fetch(FETCH_BATCH, timeout=FETCH_WAIT)
            except (nats.errors.TimeoutError, TimeoutError):
                # Nothing arrived in time (the client raises either kind, depending on where it waited).
                continue
            for message in messages:
                await handle(NatsDelivery(message))


def durable_name(prefix: str, subject: str) -> str:
    """A JetStream durable name for the subject (no dots, no wildcards)."""
    return f"{prefix}-" + re.sub(r"[^A-Za-z0-9_-]", "_", subject)


class RabbitDelivery:
    def __init__(self, message: Any) -> None:
        self._message = message
        self.body: bytes = message.body

    async def ack(self) -> None:
        await self._message.ack()

    async def keep_alive(self) -> None:
        # RabbitMQ keeps an unacknowledged delivery with its consumer until the channel closes.
        return None


class RabbitSubscription:
    """A durable queue bound to the platform's topic exchange with one binding per routing key."""

    source = "rabbitmq"

    def __init__(self, url: str, exchange: str, queue: str, routing_keys: Sequence[str]) -> None:
        self._url = url
        self._exchange = exchange
        self._queue = queue
        self._routing_keys = list(routing_keys)

    async def run(self, handle: Handler) -> None:
        connection = await aio_pika.connect(self._url, timeout=5)
        try:
            channel = await connection.channel()
            await channel.set_qos(prefetch_count=RABBITMQ_PREFETCH)
            exchange = await channel.declare_exchange(self._exchange, aio_pika.ExchangeType.TOPIC, durable=True)
            queue = await channel.declare_queue(self._queue, durable=True)
            for key in self._routing_keys:
                await queue.bind(exchange, routing_key=key)
            closed = asyncio.get_running_loop().create_future()
            connection.close_callbacks.add(lambda *_: closed.done() or closed.set_result(None))
            async with queue.iterator() as deliveries:
                async for message in _until(deliveries, closed):
                    await handle(RabbitDelivery(message))
            raise ConnectionError("the RabbitMQ connection closed")
        finally:
            with contextlib.suppress(Exception):
                await connection.close()


async def _until(deliveries: Any, closed: asyncio.Future[None]) -> Any:
    """The queue's deliveries until the connection closes (the plain iterator would wait forever)."""
    while not closed.done():
        next_delivery = asyncio.ensure_future(deliveries.__anext__())
        done, _ = await asyncio.wait({next_delivery, closed}, return_when=asyncio.FIRST_COMPLETED)
        if next_delivery not in done:
            next_delivery.cancel()
            return
        yield next_delivery.result()
