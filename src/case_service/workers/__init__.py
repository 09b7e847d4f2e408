"""Background workers run beside the API by the app's lifespan (the outbox relay, the consumer).

Each one is started after the database is open and stopped, in reverse order, before it closes, so
a worker can finish its batch on a live connection during a graceful shutdown.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from case_service.adapters.database import Database
    from case_service.config import Settings
    from case_service.observability.metrics import Metrics


class BackgroundWorker(Protocol):
    name: str

    async def start(self) -> None:
        """Begin working in a task of its own and return at once."""

    async def stop(self, timeout: float) -> None:
        """Finish the current unit of work (within `timeout` seconds), release what it holds, return."""


def background_workers(settings: Settings, database: Database, metrics: Metrics) -> list[BackgroundWorker]:
    """The workers these settings switch on, in start order."""
    workers: list[BackgroundWorker] = []
    # The relay starts first and stops last, after the consumer's final writes reached the outbox.
    if settings.outbox_relay_enabled:
        from case_service.workers.relay import OutboxRelay

        workers.append(OutboxRelay(settings, database, metrics))
    if settings.event_consumer_enabled:
        from case_service.workers.consumer import build_consumer

        workers.append(build_consumer(settings, database, metrics))
    return workers
