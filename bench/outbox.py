"""Outbox measurements: commit-to-publish latency at a steady write rate, and the drain of a backlog.

Both run the service with its relay publishing to NATS JetStream, on a stream and subject prefix
of this run only, and listen on NATS for what arrives:

- latency: creates at a fixed rate (200/s) from an asyncio client; for each `case.created` that
  arrives, the time to its arrival on NATS from its outbox row's `created_at` (taken just before
  the row is inserted, a few statements before the commit: errs long) and from the client's receipt
  of the 201 (after the commit: errs short), once a relay leads and an unmeasured second of creates
  has gone out. Twice: with the relay inside the API's process (the default), and with the API's
  relay off and `case-service relay` running as its own process;
- drain: with the service stopped, 100,000 pending rows are written straight into `event_outbox`
  (10 versions each of 10,000 cases); the service starts and the clock runs from the moment it
  answers until the last of them arrives on NATS.

A service without relay settings (before the relay landed) gets "pending" instead of a number.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import os
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import asyncpg
import nats
from nats.aio.msg import Msg

from bench.dataset import Dataset
from bench.servers import Server
from case_service.config import Settings

NATS_URL = "nats://127.0.0.1:4222"


@dataclass(frozen=True)
class Latency:
    """Commit-to-publish at a steady write rate, bracketed: from the outbox row's write (inside the
    transaction, just before its commit: errs long) and from the client's receipt of the 201 (after
    the commit: errs short, negative when the event arrived first)."""

    published: int
    errors: int  # creates that did not get a 201 (counted, not measured)
    p50_ms: float
    p99_ms: float
    after_reply_p50_ms: float
    after_reply_p99_ms: float


@dataclass(frozen=True)
class OutboxResult:
    pending: str | None = None  # why nothing was measured
    rate_per_s: float = 0.0
    # The relay inside the API's process (the default), and as its own `case-service relay` process.
    in_process: Latency | None = None
    own_process: Latency | None = None
    backlog: int = 0
    drain_seconds: float = 0.0

    @property
    def drain_per_s(self) -> float:
        return self.backlog / self.drain_seconds if self.drain_seconds else 0.0


def relay_settings_known() -> bool:
    return "event_publisher" in Settings.model_fields


@dataclass(frozen=True)
class Broker:
    """This run's JetStream stream and subject prefix, so parallel runs never see each other."""

    stream: str
    prefix: str

    @classmethod
    def for_run(cls) -> Broker:
        tag = f"{os.getpid()}x{uuid.uuid4().hex[:6]}"
        return cls(stream=f"FM_BENCH_{tag}", prefix=f"fmbench{tag}.")

    def service_env(self) -> dict[str, str]:
        """The settings that make the service's relay publish here (none before the relay existed)."""
        if not relay_settings_known():
            return {}
        return {
            "EVENT_PUBLISHER": "nats",
            "NATS_URL": NATS_URL,
            "NATS_STREAM": self.stream,
            "NATS_SUBJECT_PREFIX": self.prefix,
            "OUTBOX_RELAY_ENABLED": "true",
        }

    async def delete(self) -> None:
        if not relay_settings_known():
            return
        client = await nats.connect(NATS_URL)
        try:
            await client.jetstream().delete_stream(self.stream)
        except Exception:  # noqa: BLE001 - never created (no write reached the relay): nothing to delete
            pass
        finally:
            await client.close()


def skipped(reason: str) -> OutboxResult:
    return OutboxResult(pending=reason)


class Arrivals:
    """Every message on the run's subjects: (arrival time on the wall clock, decoded envelope)."""

    def __init__(self) -> None:
        self.events: list[tuple[float, dict[str, object]]] = []

    async def record(self, message: Msg) -> None:
        self.events.append((time.time(), json.loads(message.data)))

    async def wait_for(self, done: Callable[[], bool], seconds: float) -> bool:
        deadline = time.monotonic() + seconds
        while not done():
            if time.monotonic() > deadline:
                return False
            await asyncio.sleep(0.02)
        return True


async def measure(
    dataset: Dataset, work: Path, broker: Broker, service_env: dict[str, str], *, smoke: bool
) -> OutboxResult:
    if not relay_settings_known():
        return skipped("pending: the service on this commit has no relay publishing to a broker (issue 3)")
    await settle_pending(dataset)
    client = await nats.connect(NATS_URL)
    arrivals = Arrivals()
    await client.subscribe(f"{broker.prefix}case.>", cb=arrivals.record)
    try:
        rate, seconds = (50, 2.0) if smoke else (200, 20.0)
        in_process = await _latency(dataset, work, service_env, arrivals, rate=rate, seconds=seconds)
        arrivals.events.clear()
        own_process = await _latency(
            dataset, work, service_env, arrivals, rate=rate, seconds=seconds, relay_process=True
        )
        backlog = 2_000 if smoke else 100_000
        arrivals.events.clear()
        drain = await _drain(dataset, work, service_env, arrivals, backlog)
    finally:
        await client.close()
    return OutboxResult(
        rate_per_s=rate, in_process=in_process, own_process=own_process, backlog=backlog, drain_seconds=drain
    )


def _percentile(values: list[float], share: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return statistics.median(ordered) if share == 0.5 else ordered[min(len(ordered) - 1, int(len(ordered) * share))]


async def settle_pending(dataset: Dataset) -> None:
    """Rows left pending by earlier runs (or written without a relay) would be drained first and
    blur both measurements: mark them published. Only ever the benchmark's own database."""
    conn = await asyncpg.connect(dataset.dsn)
    try:
        # An error, not a hang, if a paused service's transaction holds some of them (bench/run.py).
        await conn.execute("SET lock_timeout = '30s'")
        await conn.execute("UPDATE event_outbox SET published_at = now() WHERE published_at IS NULL")
    finally:
        await conn.close()
    await vacuum_outbox(dataset)


async def vacuum_outbox(dataset: Dataset) -> None:
    """Start a measurement from the table a running service has: migration 0008 has autovacuum
    visit `event_outbox` after every 2,000 changed rows, but its next visit may be a minute away,
    and the load before this left hundreds of thousands of dead row versions behind."""
    conn = await asyncpg.connect(dataset.dsn)
    try:
        await conn.execute("VACUUM ANALYZE event_outbox")
    finally:
        await conn.close()


async def _latency(
    dataset: Dataset,
    work: Path,
    env: dict[str, str],
    arrivals: Arrivals,
    *,
    rate: int,
    seconds: float,
    relay_process: bool = False,
) -> Latency:
    """Creates at `rate` per second; each `case.created` timed from its outbox row's write and from
    the client's receipt of the 201 to its arrival on NATS. With `relay_process`, the API runs
    without its relay and `case-service relay` publishes from a process of its own.

    Steady state only, the same for both placements: the clock starts once a relay leads and one
    unmeasured second of creates at `rate` has been published (the first events after a start wait
    for the relay's leadership, broker connection and first statements: up to about 100 ms for
    about 1% of a 20 s run, which was the p99)."""
    errors = 0
    api_env = {**env, "OUTBOX_RELAY_ENABLED": "false"} if relay_process else env
    with contextlib.ExitStack() as stack:
        if relay_process:
            stack.enter_context(_relay_process(env, work / "logs" / "relay.log"))
        server = stack.enter_context(Server("service", "case_service.main:app", api_env))
        server.start(work / "logs")
        await _until_a_relay_leads(dataset)
        timeout = aiohttp.ClientTimeout(total=10)
        async with aiohttp.ClientSession(base_url=server.base_url, timeout=timeout) as http:

            async def drive(count: int, first: int) -> dict[str, float]:
                """`count` creates at `rate`: each created case's id and when its 201 arrived."""
                created: dict[str, float] = {}

                async def create(i: int) -> None:
                    nonlocal errors
                    async with http.post(
                        "/api/v1/cases",
                        json={"title": f"Outbox latency {i}", "severity": "high"},
                        headers={"X-User-ID": f"bench-outbox-{i % 100:02d}"},
                    ) as response:
                        if response.status == 201:
                            created[(await response.json())["case_id"]] = time.time()
                        else:
                            errors += 1

                started = time.monotonic()
                tasks = []
                for i in range(count):
                    await asyncio.sleep(max(0.0, started + i / rate - time.monotonic()))
                    tasks.append(asyncio.create_task(create(first + i)))
                await asyncio.gather(*tasks)
                await _until_arrived(arrivals, created)
                return created

            await drive(rate, 0)  # unmeasured, but a create it loses still counts as an error
            arrivals.events.clear()
            # This process stamps each 201 and each arrival: a full collection here (50-80 ms with
            # the envelopes it keeps) would stamp them late and count its pause as the relay's.
            gc.disable()
            try:
                created = await drive(int(rate * seconds), rate)
            finally:
                gc.enable()
    arrived = {
        str(envelope["event_id"]): (t, str(envelope["aggregate_id"]))
        for t, envelope in arrivals.events
        if envelope.get("event_type") == "case.created" and envelope.get("aggregate_id") in created
    }
    conn = await asyncpg.connect(dataset.dsn)
    try:
        written = await conn.fetch(
            "SELECT event_id, created_at FROM event_outbox WHERE event_id = ANY($1::text[])", list(arrived)
        )
    finally:
        await conn.close()
    from_write = [(arrived[row["event_id"]][0] - row["created_at"].timestamp()) * 1000 for row in written]
    from_reply = [(t - created[case]) * 1000 for t, case in arrived.values()]
    return Latency(
        published=len(arrived),
        errors=errors,
        p50_ms=_percentile(from_write, 0.5),
        p99_ms=_percentile(from_write, 0.99),
        after_reply_p50_ms=_percentile(from_reply, 0.5),
        after_reply_p99_ms=_percentile(from_reply, 0.99),
    )


async def _until_arrived(arrivals: Arrivals, created: dict[str, float]) -> None:
    def all_arrived() -> bool:
        seen = {
            envelope["aggregate_id"] for _t, envelope in arrivals.events if envelope.get("event_type") == "case.created"
        }
        return len(seen & created.keys()) == len(created)

    if not await arrivals.wait_for(all_arrived, 30):
        raise RuntimeError("not every created case's event reached NATS within 30 s")


@contextlib.contextmanager
def _relay_process(env: dict[str, str], log: Path) -> Iterator[None]:
    command = [str(Path(sys.executable).parent / "case-service"), "relay"]
    with log.open("ab") as out:
        relay = subprocess.Popen(command, env={**os.environ, **env}, stdout=out, stderr=subprocess.STDOUT)
    try:
        yield
    finally:
        relay.terminate()
        try:
            relay.wait(timeout=15)
        except subprocess.TimeoutExpired:
            relay.kill()
            relay.wait()


async def _until_a_relay_leads(dataset: Dataset, seconds: float = 30.0) -> None:
    """The relay leads by holding an advisory lock on its own connection: wait until one is held
    (in the API's process or its own)."""
    conn = await asyncpg.connect(dataset.dsn)
    try:
        deadline = time.monotonic() + seconds
        while not await conn.fetchval(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted AND database = "
            "(SELECT oid FROM pg_database WHERE datname = current_database())"
        ):
            if time.monotonic() > deadline:
                raise RuntimeError(f"no relay took the leadership within {seconds:g} s")
            await asyncio.sleep(0.1)
    finally:
        await conn.close()


async def _drain(dataset: Dataset, work: Path, env: dict[str, str], arrivals: Arrivals, backlog: int) -> float:
    """Seconds from the service answering to the last of `backlog` pending events arriving on NATS."""
    await vacuum_outbox(dataset)
    conn = await asyncpg.connect(dataset.dsn)
    try:
        await conn.execute(_BACKLOG_SQL, backlog, uuid.uuid4().hex[:8])
    finally:
        await conn.close()
    with Server("service", "case_service.main:app", env) as server:
        server.start(work / "logs")
        ready = time.time()
        if not await arrivals.wait_for(lambda: len(arrivals.events) >= backlog, 300):
            raise RuntimeError(f"only {len(arrivals.events)} of {backlog} backlog events reached NATS in 300 s")
    return max(t for t, _e in arrivals.events) - ready


# Ten consecutive versions of each of backlog/10 cases, shaped like the rows the service writes.
_BACKLOG_SQL = """
INSERT INTO event_outbox (event_id, event_type, aggregate_type, aggregate_id, aggregate_version,
                          envelope, headers, created_at)
SELECT id::text, 'case.updated', 'case', aggregate_id, version,
       jsonb_build_object('event_id', id::text, 'event_type', 'case.updated', 'schema_version', '1.0.0',
                          'timestamp', now(), 'producer', 'fm-case-service', 'aggregate_type', 'case',
                          'aggregate_id', aggregate_id, 'aggregate_version', version,
                          'payload', jsonb_build_object('case_id', aggregate_id, 'changes',
                                     jsonb_build_object('severity', jsonb_build_object('old', 'low', 'new', 'high')))),
       jsonb_build_object('ce-specversion', '1.0', 'ce-id', id::text, 'ce-type', 'case.updated.v1',
                          'ce-source', '/fm-case-service', 'content-type', 'application/json'),
       now()
FROM (
    SELECT gen_random_uuid() AS id, 'case_b' || $2::text || lpad(((g - 1) / 10)::text, 6, '0') AS aggregate_id,
           1 + (g - 1) % 10 AS version
    FROM generate_series(1, $1::int) AS g
) rows
ORDER BY aggregate_id, version
"""
