"""CPU instructions the service's own process spends per request, counted by valgrind's callgrind.

    .venv/bin/python bench/instructions.py get     # GET one case
    .venv/bin/python bench/instructions.py list    # first list page, status=active, 50 cases
    .venv/bin/python bench/instructions.py search  # a search's first page, 50 cases by relevance
    .venv/bin/python bench/instructions.py context # the agent context of one case
    .venv/bin/python bench/instructions.py create  # create a case, as the benchmark's load does
    .venv/bin/python bench/instructions.py message # add a message to a case
    .venv/bin/python bench/instructions.py relay   # one outbox relay cycle that publishes one event
    .venv/bin/python bench/instructions.py drain   # one event of a backlog, in relay cycles of 1,000

On a shared machine, requests per second and CPU seconds per request drift by a fifth between
back-to-back runs of the same code; a count of executed instructions does not (it repeats within
0.1%). The service is built with `create_app` and called as an ASGI app in one process, with no
HTTP server, no load generator and no outbox relay, on the benchmark's PostgreSQL database (whose
own work, in its own processes, is not counted). Each kind runs twice under callgrind, with 20 and
with 220 requests: the difference over 200 requests is the cost of one request, free of start-up
and import. Run it on two commits to compare them.

`relay` counts the relay's cycle as it runs between writes: one pending event read, published to
NATS (JetStream, a stream of the run's own) and marked. `drain` counts the relay's work per event
in a backlog: cycles of 1,000 events, ten of each case (2 and 6 cycles, the difference over 4,000
events). The events are written before each counted run by this process, outside the count, and
every one must be published and marked by the end.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make `bench` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import asyncpg

from bench.outbox import _BACKLOG_SQL, NATS_URL, Broker

SHORT, LONG = 20, 220
DEFAULT_DSN = "postgresql://postgres@127.0.0.1:5432/fm_cases_bench"
# The bodies of the benchmark's create and add message (bench/wrk/scenarios.lua).
CREATE_BODY = (
    b'{"title":"Checkout latency spike","description":"p99 above 2 s since the deploy",'
    b'"severity":"high","category":"performance","metadata":{"service":"checkout"}}'
)
MESSAGE_BODY = (
    b'{"role":"user","content":"The pool saturates at peak; p99 went from 80 ms to 4 s.",'
    b'"metadata":{"source":"chat"}}'
)
# method, path, body and the status every answer must have
REQUESTS = {
    "get": ("GET", "/api/v1/cases/{case_id}", b"", 200),
    "list": ("GET", "/api/v1/cases?status=active&limit=50", b"", 200),
    "search": ("GET", "/api/v1/cases?q=timeout&limit=50", b"", 200),
    "context": ("GET", "/api/v1/cases/{case_id}/context", b"", 200),
    "create": ("POST", "/api/v1/cases", CREATE_BODY, 201),
    "message": ("POST", "/api/v1/cases/{case_id}/messages", MESSAGE_BODY, 201),
}
# Relay kinds: events per relay cycle, and the short and long runs' numbers of cycles.
RELAY_RUNS = {"relay": (1, SHORT, LONG), "drain": (1000, 2, 6)}
KINDS = (*REQUESTS, *RELAY_RUNS)


def in_process_app(dsn: str) -> Any:
    """The service on `dsn` as an ASGI app to call in this process: no relay, no access log."""
    from case_service.config import load_settings
    from case_service.main import create_app

    settings = load_settings(
        database_url=dsn.replace("postgresql://", "postgresql+asyncpg://", 1),
        auto_migrate=False,
        outbox_relay_enabled=False,
        access_log=False,
        log_level="WARNING",
    )
    return create_app(settings)


async def _requests(kind: str, dsn: str, user_id: str, case_id: str, count: int) -> None:
    """The measured process: `count` requests of one kind, each answered as it should be."""
    app = in_process_app(dsn)
    method, target, body, expected = REQUESTS[kind]
    path, _, query = target.format(case_id=case_id).partition("?")
    headers = [(b"host", b"127.0.0.1"), (b"x-user-id", user_id.encode())]
    if body:
        headers += [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "server": ("127.0.0.1", 8000),
        "client": ("127.0.0.1", 50000),
        "root_path": "",
        "path": path,
        "raw_path": path.encode(),
        "query_string": query.encode(),
        "headers": headers,
    }
    statuses: list[int] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            statuses.append(message["status"])

    async with app.router.lifespan_context(app):
        for _ in range(count):
            await app(dict(scope, state={}), receive, send)
    wrong = [status for status in statuses if status != expected]
    if wrong or len(statuses) != count:
        sys.exit(f"{kind}: {len(statuses)} responses of {count}, not {expected}: {wrong[:5]}")


async def _relay_cycles(dsn: str, stream: str, prefix: str, count: int, batch: int) -> None:
    """The measured process: `count` relay cycles, each taking `batch` pending events."""
    from case_service.adapters.database import Database
    from case_service.config import load_settings
    from case_service.observability.metrics import Metrics
    from case_service.workers.relay import OutboxRelay

    settings = load_settings(
        database_url=dsn.replace("postgresql://", "postgresql+asyncpg://", 1),
        auto_migrate=False,
        log_level="WARNING",
        event_publisher="nats",
        nats_url=NATS_URL,
        nats_stream=stream,
        nats_subject_prefix=prefix,
        outbox_batch_size=batch,
        # Under valgrind the process runs tens of times slower: with the default 5 s, acknowledgements
        # of a batch of 1,000 came too late, and the count included failures instead of publishes.
        outbox_publish_timeout=120,
    )
    database = Database(settings)
    relay = OutboxRelay(settings, database, Metrics())
    try:
        for _ in range(count):
            await relay._cycle()  # one cycle, without the leadership and wake-ups around it
        await relay._marked()  # the last cycle's marks, written while a next cycle would run
    finally:
        await relay.publisher.close()
        await database.dispose()


async def _write_pending(dsn: str, count: int) -> None:
    """Mark whatever is pending published, then write `count` pending events for the relay."""
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute("UPDATE event_outbox SET published_at = now() WHERE published_at IS NULL")
        await conn.execute(_BACKLOG_SQL, count, uuid.uuid4().hex[:8])
    finally:
        await conn.close()


async def _pending(dsn: str) -> int:
    conn = await asyncpg.connect(dsn)
    try:
        return await conn.fetchval("SELECT count(*) FROM event_outbox WHERE published_at IS NULL")
    finally:
        await conn.close()


async def _sample_case(dsn: str) -> tuple[str, str]:
    conn = await asyncpg.connect(dsn)
    try:
        row = await conn.fetchrow("SELECT user_id, case_id FROM cases WHERE user_id LIKE 'user_%' ORDER BY seq LIMIT 1")
    finally:
        await conn.close()
    if row is None:
        sys.exit(f"no cases in {dsn}: build the data set first (bench/run.py)")
    return row["user_id"], row["case_id"]


def _instructions(kind: str, dsn: str, sample: list[str], count: int) -> int:
    """Run `count` requests (or relay cycles) under callgrind and return the instructions the
    process executed."""
    if kind in RELAY_RUNS:
        events = count * RELAY_RUNS[kind][0]
        asyncio.run(_write_pending(dsn, events))
    with tempfile.TemporaryDirectory() as work:
        out = Path(work) / "callgrind.out"
        command = [
            "valgrind", "--tool=callgrind", f"--callgrind-out-file={out}",
            sys.executable, __file__, kind, *sample, "--dsn", dsn, "--measure", str(count),
        ]  # fmt: skip
        # Fixed hash seed: set and dict iteration orders, and so the work they drive, repeat exactly.
        env = dict(os.environ, PYTHONHASHSEED="0")
        done = subprocess.run(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        if done.returncode != 0:
            sys.exit(f"{kind}: the counted run failed ({done.returncode}):\n{done.stderr[-2000:]}")
        found = re.search(r"^(?:summary|totals): (\d+)", out.read_text(), re.MULTILINE)
    if kind in RELAY_RUNS and (left := asyncio.run(_pending(dsn))):
        sys.exit(f"{kind}: {left} of {events} events still pending after {count} cycles")
    if found is None:
        sys.exit(f"callgrind wrote no instruction total to {out}")
    return int(found.group(1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("kind", choices=KINDS)
    parser.add_argument("--dsn", default=DEFAULT_DSN, help=f"PostgreSQL database with the data set (default {DEFAULT_DSN})")
    parser.add_argument("--measure", type=int, help=argparse.SUPPRESS)
    parser.add_argument("sample", nargs="*", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure is not None:
        if args.kind in RELAY_RUNS:
            asyncio.run(_relay_cycles(args.dsn, *args.sample, args.measure, RELAY_RUNS[args.kind][0]))
        else:
            asyncio.run(_requests(args.kind, args.dsn, *args.sample, args.measure))
        return
    batch, short_run, long_run = RELAY_RUNS.get(args.kind, (1, SHORT, LONG))
    unit = {"relay": "relay cycles", "drain": "events"}.get(args.kind, "requests")
    if args.kind in RELAY_RUNS:
        broker = Broker.for_run()
        sample = [broker.stream, broker.prefix]
    else:
        broker = None
        sample = list(asyncio.run(_sample_case(args.dsn)))
    try:
        short = _instructions(args.kind, args.dsn, sample, short_run)
        long = _instructions(args.kind, args.dsn, sample, long_run)
    finally:
        if broker is not None:
            asyncio.run(broker.delete())
    per_unit = (long - short) / ((long_run - short_run) * batch)
    print(f"{args.kind}: {short:,} instructions for {short_run * batch} {unit}, {long:,} for {long_run * batch}")
    print(f"{args.kind}: {per_unit / 1e6:.3f}M instructions per {unit[:-1]}")


if __name__ == "__main__":
    main()
