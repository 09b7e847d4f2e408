"""CPU per request, the service's and PostgreSQL's, over the benchmark's users one request at a time.

    .venv/bin/python bench/cpu_split.py search   # the search scenario's 2,000 users and terms
    .venv/bin/python bench/cpu_split.py list     # the first list page, status=active, same users
    .venv/bin/python bench/cpu_split.py search --term "replication lag"   # one term for every user

Under load the two share the machine's two cores, so whichever spends more per request sets the
rate: `bench/instructions.py` counts the service's side exactly but not the database's. Here the
service is built with `create_app` and called as an ASGI app in this process (no HTTP server, no
load generator, no relay), one request after another, twice over the users: the service's CPU is
this process's `time.process_time()`, PostgreSQL's the user and system time of its processes
(their children's included, so backends that ended count too) from /proc. Anything else running on
PostgreSQL meanwhile is counted with it: run it on an idle machine.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import sys
import time
import urllib.parse
from dataclasses import dataclass
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make `bench` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import asyncpg

from bench.instructions import in_process_app
from bench.probe import SEARCH_TERMS, SEARCH_USERS_SQL

DEFAULT_DSN = "postgresql://postgres@127.0.0.1:5432/fm_cases_bench"
ROUNDS = 2


@dataclass(frozen=True)
class Split:
    requests: int
    wall_ms: float
    service_ms: float
    postgres_ms: float


def postgres_cpu_seconds() -> float:
    """User and system time of every process named postgres, with their reaped children's."""
    ticks = 0
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/comm") as comm:
                if comm.read().strip() != "postgres":
                    continue
            with open(f"/proc/{pid}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except OSError:  # ended meanwhile: its parent counts it among its children
            continue
        ticks += sum(int(value) for value in fields[11:15])  # utime, stime, cutime, cstime
    return ticks / os.sysconf("SC_CLK_TCK")


async def queries(kind: str, dsn: str, term: str | None) -> list[tuple[str, str]]:
    """(user, query string) for each request: the search scenario's users and terms (bench/probe.py)."""
    conn = await asyncpg.connect(dsn)
    try:
        users = [row[0] for row in await conn.fetch(SEARCH_USERS_SQL)]
    finally:
        await conn.close()
    rng = random.Random(9)
    if kind == "list":
        return [(user, "status=active&limit=50") for user in users]
    return [(user, urllib.parse.urlencode({"q": term or rng.choice(SEARCH_TERMS), "limit": 50})) for user in users]


async def measure(kind: str, dsn: str, term: str | None = None, rounds: int = ROUNDS) -> list[Split]:
    wanted = await queries(kind, dsn, term)
    app = in_process_app(dsn)
    statuses: list[int] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            statuses.append(message["status"])

    splits = []
    async with app.router.lifespan_context(app):
        for _ in range(rounds):
            wall, service, postgres = time.perf_counter(), time.process_time(), postgres_cpu_seconds()
            for user, query in wanted:
                scope = {
                    "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET",
                    "scheme": "http", "server": ("127.0.0.1", 8000), "client": ("127.0.0.1", 50000),
                    "root_path": "", "path": "/api/v1/cases", "raw_path": b"/api/v1/cases",
                    "query_string": query.encode(), "headers": [(b"host", b"127.0.0.1"), (b"x-user-id", user.encode())],
                    "state": {},
                }  # fmt: skip
                await app(scope, receive, send)
            count = len(wanted)
            splits.append(
                Split(
                    requests=count,
                    wall_ms=(time.perf_counter() - wall) / count * 1e3,
                    service_ms=(time.process_time() - service) / count * 1e3,
                    postgres_ms=(postgres_cpu_seconds() - postgres) / count * 1e3,
                )
            )
    wrong = sorted({status for status in statuses if status != 200})
    if wrong:
        sys.exit(f"{kind}: answers other than 200: {wrong}")
    return splits


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("kind", choices=("search", "list"))
    parser.add_argument("--term", help="search every user for this one term instead of the scenario's mix")
    parser.add_argument("--dsn", default=DEFAULT_DSN, help=f"PostgreSQL database with the data set (default {DEFAULT_DSN})")
    args = parser.parse_args()
    for number, split in enumerate(asyncio.run(measure(args.kind, args.dsn, args.term)), 1):
        print(
            f"{args.kind} round {number}: {split.requests} requests; per request {split.wall_ms:.2f} ms in all, "
            f"service CPU {split.service_ms:.2f} ms, PostgreSQL CPU {split.postgres_ms:.2f} ms"
        )


if __name__ == "__main__":
    main()
