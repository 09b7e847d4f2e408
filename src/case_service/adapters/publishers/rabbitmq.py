"""RabbitMQ: a durable topic exchange, persistent messages, publisher confirms, `mandatory`.

A message counts as published only when the broker confirms it. `mandatory` makes an unroutable
message (no queue bound for its routing key) come back, and that is a failure too: confirmed but
dropped would be an event lost.
"""

from __future__ import annotations

import asyncio
import logging

import aio_pika
import aiormq
from aio_pika.abc import AbstractExchange, AbstractRobustConnection

from case_service.adapters.publishers import OutgoingEvent, PublishFailed

logger = logging.getLogger(__name__)


class RabbitMqPublisher:
    name = "rabbitmq"

    def __init__(self, url: str, exchange: str, *, timeout: float) -> None:
        self._url = url
        self._exchange_name = exchange
        self._timeout = timeout
        self._connection: AbstractRobustConnection | None = None
        self._exchange: AbstractExchange | None = None
        self._connecting = asyncio.Lock()

    async def publish(self, event: OutgoingEvent) -> None:
        exchange = await self._declared_exchange()
        headers = {name: value for name, value in event.headers.items() if name != "content-type"}
        message = aio_pika.Message(
            event.body,
            headers=headers,
            content_type="application/json",
            delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
            message_id=event.event_id,
            type=event.event_type,
        )
        try:
            confirmation = await exchange.publish(
                message, routing_key=event.channel, mandatory=True, timeout=self._timeout
            )
        except Exception as exc:
            raise PublishFailed(f"RabbitMQ did not confirm: {type(exc).__name__}: {exc}") from exc
        # With confirms on and returns raising, anything but an ack means the broker did not take it.
        if not isinstance(confirmation, aiormq.spec.Basic.Ack):
            raise PublishFailed(f"RabbitMQ did not acknowledge: {confirmation!r}")

    async def _declared_exchange(self) -> AbstractExchange:
        async with self._connecting:
            if self._exchange is None:
                try:
                    connection = await aio_pika.connect_robust(self._url, timeout=self._timeout)
                except Exception as exc:
                    raise PublishFailed(f"RabbitMQ unreachable: {type(exc).__name__}: {exc}") from exc
                try:
                    channel = await connection.channel(publisher_confirms=True, on_return_raises=True)
                    self._exchange = await channel.declare_exchange(
                        self._exchange_name, aio_pika.ExchangeType.TOPIC, durable=True
                    )
                except Exception as exc:
                    await connection.close()
                    raise PublishFailed(f"RabbitMQ exchange {self._exchange_name}: {exc}") from exc
                self._connection = connection
            return self._exchange

    async def close(self) -> None:
        connection, self._connection, self._exchange = self._connection, None, None
        if connection is not None:
            try:
                await connection.close()
            except Exception:
                logger.debug("closing the RabbitMQ connection failed", exc_info=True)
