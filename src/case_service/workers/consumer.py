"""The event consumer: reads platform events from the broker and applies each exactly once.

Per delivery: apply it through the inbox (one unit of work: dedupe record + effect), and only
then acknowledge it. A failure is retried here with exponential backoff; after
EVENT_CONSUMER_MAX_ATTEMPTS attempts, or at once when the event is malformed or of an unknown
major schema version, it is written to the dead letters and acknowledged. If the process dies
anywhere before the acknowledgement, the broker delivers the event again and the inbox turns the
repeat into a no-op (or, for a user's deletion cut off between batches, resumes it).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import TYPE_CHECKING

from case_service.adapters.subscriptions import Delivery, NatsSubscription, RabbitSubscription, Subscription
from case_service.adapters.unit_of_work import SqlAlchemyUnitOfWorkFactory
from case_service.domain.platform_events import MalformedEvent
from case_service.service.cases import utc_now
from case_service.service.platform_events import PlatformEventService, describe_failure, event_policy

if TYPE_CHECKING:
    from case_service.adapters.database import Database
    from case_service.config import Settings
    from case_service.observability.metrics import Metrics

logger = logging.getLogger(__name__)

# Waiting to reconnect to an unreachable broker: doubles from the first to the last.
RECONNECT_DELAYS = (0.5, 30.0)


class EventConsumer:
    name = "event-consumer"

    def __init__(
        self,
        events: PlatformEventService,
        subscription: Subscription,
        *,
        max_attempts: int,
        retry_backoff: float,
        retry_backoff_max: float,
    ) -> None:
        self._events = events
        self._subscription = subscription
        self._max_attempts = max_attempts
        self._retry_backoff = retry_backoff
        self._retry_backoff_max = retry_backoff_max
        self._task: asyncio.Task[None] | None = None
        self._idle = asyncio.Event()
        self._idle.set()
        self._stopping = False

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=self.name)

    async def stop(self, timeout: float) -> None:
        """Let the delivery in hand finish (within `timeout`), then disconnect. Whatever was not
        acknowledged is delivered again later, to this service or another instance."""
        self._stopping = True
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._idle.wait(), timeout)
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        delay = RECONNECT_DELAYS[0]
        while not self._stopping:
            try:
                await self._subscription.run(self.handle)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - a broker outage must not end the worker
                source = self._subscription.source
                logger.warning("event consumer: %s unavailable (%r); retrying in %.1fs", source, exc, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, RECONNECT_DELAYS[1])
            else:
                delay = RECONNECT_DELAYS[0]

    async def handle(self, delivery: Delivery) -> None:
        """Apply one delivery (retrying, or dead-lettering it), then acknowledge it."""
        if self._stopping:
            # Not taken: the broker will deliver it again after the shutdown.
            await asyncio.sleep(float("inf"))
        self._idle.clear()
        try:
            await self._apply(delivery)
            await self.acknowledge(delivery)
        finally:
            self._idle.set()

    async def acknowledge(self, delivery: Delivery) -> None:
        await delivery.ack()

    async def _apply(self, delivery: Delivery) -> None:
        source = self._subscription.source
        attempt = 0
        while True:
            attempt += 1
            try:
                # On JetStream, each batch of a long deletion pushes the ack deadline back.
                receipt = await self._events.receive(delivery.body, source, heartbeat=delivery.keep_alive)
            except MalformedEvent as exc:
                await self._events.dead_letter(delivery.body, source, describe_failure(exc), attempt)
                logger.warning("event consumer: dead-lettered a malformed event: %s", exc.reason)
                return
            except Exception as exc:  # noqa: BLE001 - retried, then dead-lettered with its error
                if attempt >= self._max_attempts:
                    await self._events.dead_letter(delivery.body, source, describe_failure(exc), attempt)
                    logger.error("event consumer: dead-lettered an event after %d attempts: %s", attempt, exc)
                    return
                delay = min(self._retry_backoff * 2 ** (attempt - 1), self._retry_backoff_max)
                logger.warning("event consumer: attempt %d failed (%s); retrying in %.2fs", attempt, exc, delay)
                await delivery.keep_alive()
                await asyncio.sleep(delay)
            else:
                logger.info(
                    "event %s (%s) from %s: %s", receipt.event_id, receipt.event_type, source, receipt.outcome.value
                )
                return


def subscription_for(settings: Settings) -> Subscription:
    if settings.event_consumer_broker == "rabbitmq":
        return RabbitSubscription(
            settings.rabbitmq_url,
            settings.rabbitmq_exchange,
            settings.event_consumer_queue,
            settings.event_consumer_subjects,
        )
    return NatsSubscription(
        settings.nats_url,
        settings.event_consumer_nats_stream,
        settings.event_consumer_subjects,
        settings.event_consumer_name,
        settings.event_consumer_ack_wait,
    )


def build_consumer(
    settings: Settings, database: Database, metrics: Metrics, subscription: Subscription | None = None
) -> EventConsumer:
    events = PlatformEventService(
        SqlAlchemyUnitOfWorkFactory(database, settings.service_name), event_policy(settings), utc_now, metrics
    )
    return EventConsumer(
        events,
        subscription or subscription_for(settings),
        max_attempts=settings.event_consumer_max_attempts,
        retry_backoff=settings.event_consumer_retry_backoff,
        retry_backoff_max=settings.event_consumer_retry_backoff_max,
    )
