"""The outbox relay: publishes what the unit of work wrote to `event_outbox`, at least once, in order.

One cycle: read the due events (each case's unbroken run of pending versions, breadth first), publish
each case's run one event after another while different cases go out concurrently, then record the
outcome (one UPDATE marks everything published). An event that fails gets its attempt count, error
and next attempt time (exponential backoff with jitter) and holds back the later events of its case
only. A relay that dies between publishing and marking publishes the events again after restart:
consumers deduplicate by `event_id` (JetStream by `Nats-Msg-Id`).

When every event of a cycle was published, its marks are written while the next cycle reads and
publishes: that read leaves out the rows still being marked, which are published already. A cycle
with a failure records it before the next read, which must see the failed event as held back.

Only the leader of the database publishes (see adapters/leadership.py), and purges what has been
kept long enough: published outbox rows and completed inbox rows. It wakes on the outbox
NOTIFY (PostgreSQL), on an in-process signal from this process's unit of work, on a due retry, and
otherwise every OUTBOX_POLL_INTERVAL.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import signal
import socket
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from case_service.adapters.database import Database
from case_service.adapters.leadership import Leadership, leadership_for
from case_service.adapters.outbox_store import OutboxRow, OutboxStore, PublishFailure
from case_service.adapters.publishers import EventPublisher, OutgoingEvent, PublishFailed, build_publisher
from case_service.adapters.unit_of_work import SqlAlchemyUnitOfWorkFactory
from case_service.config import Settings
from case_service.observability.metrics import Metrics
from case_service.service.platform_events import InboxPurge

logger = logging.getLogger(__name__)

_ERROR_MAX_LENGTH = 1000
_GAUGE_REFRESH_SECONDS = 1.0


def _utc_now() -> datetime:
    return datetime.now(UTC)


def retry_delay(attempts: int, settings: Settings) -> float:
    """Exponential backoff capped at OUTBOX_RETRY_MAX_DELAY, with "equal jitter": half the delay is
    fixed, half random, so the failed events of many cases do not all retry in lockstep."""
    full = min(settings.outbox_retry_max_delay, settings.outbox_retry_base_delay * 2 ** min(attempts - 1, 30))
    return full / 2 + random.uniform(0, full / 2)


class OutboxRelay:
    name = "outbox-relay"

    def __init__(
        self,
        settings: Settings,
        database: Database,
        metrics: Metrics,
        *,
        publisher: EventPublisher | None = None,
        store: OutboxStore | None = None,
        identity: str | None = None,
    ) -> None:
        self._settings = settings
        self._database = database
        self._metrics = metrics
        self.publisher = publisher or build_publisher(settings)
        self._store = store or OutboxStore(database)
        self._inbox_purge = InboxPurge.for_settings(
            SqlAlchemyUnitOfWorkFactory(database, settings.service_name), _utc_now, settings
        )
        self.identity = identity or f"{settings.service_name}/{socket.gethostname()}/{os.getpid()}/{uuid.uuid4().hex[:6]}"
        self._wake = asyncio.Event()
        self._stopping = asyncio.Event()
        self._leadership: Leadership = leadership_for(
            database, self.identity, settings.outbox_leader_check_interval, self._wake.set
        )
        self._task: asyncio.Task[None] | None = None
        self._unsubscribe: Callable[[], None] | None = None
        self._next_retry_known = False
        self._leading = False
        # The last cycle's marks while they are written, and the ids of the rows they mark.
        self._marking: asyncio.Task[None] | None = None
        self._marking_ids: list[int] = []
        self.last_error: dict[str, str] | None = None

    @property
    def is_leader(self) -> bool:
        """Leads now: false from the very moment the leadership connection is known to be lost."""
        return self._leading and not self._leadership.lost.is_set()

    async def start(self) -> None:
        self._stopping.clear()
        self._unsubscribe = self._database.on_outbox_written(self._wake.set)
        self._task = asyncio.create_task(self._run(), name=self.name)

    async def stop(self, timeout: float) -> None:
        """Let the current cycle finish (and mark what it published) within `timeout`, then leave."""
        self._stopping.set()
        self._wake.set()
        task, self._task = self._task, None
        if task is not None:
            done, _ = await asyncio.wait({task}, timeout=timeout)
            if not done:
                logger.warning("outbox relay did not finish its cycle within %gs; cancelled", timeout)
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
            elif not task.cancelled() and task.exception() is not None:
                logger.error("outbox relay had ended with %r", task.exception())
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        await self.publisher.close()

    async def wait(self) -> None:
        """Until the relay's task ends (it ends only when stopped)."""
        if self._task is not None:
            await asyncio.shield(self._task)

    async def _run(self) -> None:
        check = self._settings.outbox_leader_check_interval
        while not self._stopping.is_set():
            try:
                acquired = await self._leadership.try_acquire()
            except Exception as exc:
                logger.warning("outbox relay cannot take the leadership: %s: %s", type(exc).__name__, exc)
                acquired = False
            if not acquired:
                await self._pause(check)
                continue
            logger.info("outbox relay %s leads (publisher: %s)", self.identity, self.publisher.name)
            self._set_leader(True)
            try:
                await self._lead()
            except Exception as exc:  # never let one bad moment end the relay for good
                self._note_error(f"relay: {type(exc).__name__}: {exc}")
                logger.exception("outbox relay failed while leading")
            finally:
                self._set_leader(False)
                await self._leadership.release()
            if not self._stopping.is_set():
                logger.warning("outbox relay %s lost the leadership; trying again", self.identity)
                await self._pause(check)

    async def _lead(self) -> None:
        lost = self._leadership.lost
        # Gauges and the purge run beside publishing, never between a commit and its publication.
        upkeep = asyncio.create_task(self._upkeep(), name=f"{self.name}-upkeep")
        try:
            await self._publish_while_leading(lost)
        finally:
            upkeep.cancel()
            await asyncio.gather(upkeep, return_exceptions=True)
            await self._marked()

    async def _publish_while_leading(self, lost: asyncio.Event) -> None:
        while not self._stopping.is_set() and not lost.is_set():
            self._wake.clear()
            cycle = asyncio.create_task(self._cycle())
            lost_wait = asyncio.create_task(lost.wait())
            try:
                await asyncio.wait({cycle, lost_wait}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                lost_wait.cancel()
            if not cycle.done():
                # The connection that makes us leader is gone: another relay may lead by now.
                cycle.cancel()
                await asyncio.gather(cycle, return_exceptions=True)
                return
            try:
                more = cycle.result()
            except Exception as exc:  # the database is unreachable, say: try again after a pause
                self._note_error(f"relay cycle: {type(exc).__name__}: {exc}")
                logger.warning("outbox relay cycle failed: %s: %s", type(exc).__name__, exc)
                await self._pause(self._settings.outbox_poll_interval)
                continue
            if not more:
                await self._wait_for_work()

    async def _upkeep(self) -> None:
        """While leading: the gauges every second; every OUTBOX_PURGE_INTERVAL, the purge of
        published outbox rows and of completed inbox rows (the leader is the one relay that runs)."""
        next_purge = time.monotonic() + min(5.0, self._settings.outbox_purge_interval)
        while True:
            await self._housekeeping(self._refresh_gauges)
            if time.monotonic() >= next_purge:
                next_purge = time.monotonic() + self._settings.outbox_purge_interval
                await self._housekeeping(self._purge)
                await self._housekeeping(self._purge_inbox)
            await asyncio.sleep(_GAUGE_REFRESH_SECONDS)

    async def _cycle(self) -> bool:
        """Publish one batch. True when the batch was full (more is probably waiting)."""
        settings = self._settings
        rows = await self._store.fetch_due(
            _utc_now(),
            max_events=settings.outbox_batch_size,
            per_case=settings.outbox_case_batch_size,
            skip=self._marking_ids,
        )
        if not rows:
            await self._marked()  # idle: what was published is marked before the relay waits
            return False
        by_case: dict[str, list[OutboxRow]] = {}
        for row in rows:
            by_case.setdefault(row.aggregate_id, []).append(row)
        published: list[int] = []
        failures: list[PublishFailure] = []
        slots = asyncio.Semaphore(settings.outbox_publish_concurrency)
        # The one bound on a publish, whatever the publisher (OUTBOX_PUBLISH_TIMEOUT).
        timeout = settings.outbox_publish_timeout

        async def relay_case(run: list[OutboxRow]) -> None:
            async with slots:
                for row in sorted(run, key=lambda r: r.aggregate_version):
                    self._metrics.outbox_publish_attempts.inc()
                    event = OutgoingEvent(
                        event_id=row.event_id,
                        event_type=row.event_type,
                        aggregate_id=row.aggregate_id,
                        aggregate_version=row.aggregate_version,
                        body=row.body.encode(),
                        headers=row.headers,
                    )
                    try:
                        async with asyncio.timeout(timeout):
                            await self.publisher.publish(event)
                    except Exception as exc:
                        # Stop this case here: its later events must not overtake the failed one.
                        if isinstance(exc, TimeoutError):
                            exc = PublishFailed(f"{self.publisher.name}: no acknowledgement within {timeout:g} s")
                        failures.append(self._failure(row, exc))
                        return
                    published.append(row.id)

        await asyncio.gather(*(relay_case(run) for run in by_case.values()))
        await self._marked()
        if failures:
            await self._store.settle(published, failures, _utc_now())
        else:
            self._marking_ids = published
            self._marking = asyncio.create_task(self._store.settle(published, (), _utc_now()))
        return len(rows) >= settings.outbox_batch_size

    async def _marked(self) -> None:
        """Wait for the last cycle's marks to be written. Once they are done, their rows are read
        like any other: a row whose mark failed is published again (and dropped as a repeat).
        A cycle cancelled meanwhile does not cancel the marks: `_lead` waits for them."""
        marking = self._marking
        if marking is None:
            return
        try:
            await asyncio.shield(marking)
        except Exception as exc:
            error = f"{type(exc).__name__}: {exc}"
            self._note_error(f"marking published events: {error}")
            logger.warning("marking %d published events failed: %s", len(self._marking_ids), error)
        finally:
            if marking.done():
                self._marking, self._marking_ids = None, []

    def _failure(self, row: OutboxRow, exc: Exception) -> PublishFailure:
        attempts = row.attempts + 1
        # PublishFailed already says what failed; anything else gets its type in front.
        error = (str(exc) if isinstance(exc, PublishFailed) else f"{type(exc).__name__}: {exc}")[:_ERROR_MAX_LENGTH]
        self._metrics.outbox_publish_failures.inc()
        self._note_error(error, event_id=row.event_id)
        self._next_retry_known = True
        logger.warning(
            "publishing %s (%s v%d) failed, attempt %d: %s",
            row.event_id, row.aggregate_id, row.aggregate_version, attempts, error,
        )
        return PublishFailure(row.id, attempts, error, _utc_now() + timedelta(seconds=retry_delay(attempts, self._settings)))

    async def _wait_for_work(self) -> None:
        timeout = self._settings.outbox_poll_interval
        if self._next_retry_known:
            try:
                due = await self._store.next_retry_at()
            except Exception:  # the next cycle reports the database problem
                due = None
            if due is None:
                self._next_retry_known = False
            else:
                timeout = max(0.0, min(timeout, (due - _utc_now()).total_seconds()))
        waits = [asyncio.create_task(self._wake.wait()), asyncio.create_task(self._leadership.lost.wait())]
        try:
            await asyncio.wait(waits, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in waits:
                task.cancel()

    async def _pause(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), timeout=seconds)

    async def _housekeeping(self, job: Callable[[], object]) -> None:
        try:
            await job()  # type: ignore[misc]
        except Exception as exc:  # housekeeping never stops publishing
            logger.warning("outbox housekeeping (%s) failed: %s: %s", getattr(job, "__name__", job), type(exc).__name__, exc)

    async def _refresh_gauges(self) -> None:
        summary = await self._store.pending_summary(_utc_now())
        self._metrics.outbox_pending.set(summary.pending)
        self._metrics.outbox_oldest_pending_age.set(summary.oldest_pending_age_seconds or 0.0)

    async def _purge(self) -> None:
        cutoff = _utc_now() - timedelta(seconds=self._settings.outbox_retention_seconds)
        deleted = await self._store.purge_published(cutoff, self._settings.outbox_purge_batch_size)
        if deleted:
            logger.info("purged %d published outbox rows older than %s", deleted, cutoff.isoformat())

    async def _purge_inbox(self) -> None:
        deleted = await self._inbox_purge.purge()
        if deleted:
            retention = self._settings.inbox_retention_seconds
            logger.info("purged %d completed inbox rows older than %gs", deleted, retention)

    def _set_leader(self, leading: bool) -> None:
        self._leading = leading
        self._metrics.relay_leader.set(1 if leading else 0)

    def _note_error(self, error: str, event_id: str | None = None) -> None:
        self.last_error = {"error": error, "at": _utc_now().isoformat(), **({"event_id": event_id} if event_id else {})}


async def run_standalone(settings: Settings) -> None:
    """`case-service relay`: the relay without the API, until SIGINT or SIGTERM."""
    database = Database(settings)
    relay = OutboxRelay(settings, database, Metrics())
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    await relay.start()
    logger.info("outbox relay %s started (publisher: %s)", relay.identity, relay.publisher.name)
    try:
        await stop.wait()
    finally:
        await relay.stop(settings.shutdown_timeout)
        await database.dispose()
