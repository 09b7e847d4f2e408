"""The benchmark, in one command: `.venv/bin/python bench/run.py` (add `--smoke` for a seconds-long run).

It builds or reuses the PostgreSQL data set, starts the service with 1 and then 2 uvicorn workers,
starts the two reference apps (the ceiling and the common pattern) and the floor under FastAPI,
drives each scenario with wrk at 64 connections from a separate process, measures the outbox, and
writes a Markdown report.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import os
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make `bench` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import asyncpg

from bench import outbox, probe, report
from bench.outbox import Broker
from bench.dataset import Dataset, DatasetSpec, ensure_dataset, prewarm
from bench.load import LoadResult, ensure_wrk, run_wrk
from bench.servers import Server, wait_until_quiet

ADMIN_DSN = "postgresql://postgres@127.0.0.1:5432/postgres"
FULL_DATABASE = "fm_cases_bench"
SMOKE_SPEC = DatasetSpec(cases=2_000, users=20)
SERVICE_SCENARIOS = (
    "get_case", "list_first_page", "list_cursor_10k", "search", "stats", "context",
    "create_case", "add_message", "change_status", "dashboard",
)  # fmt: skip
REFERENCE_SCENARIOS = ("get_case", "create_case")
# The apps of bench/refapps and what each answers: the two references, and the floor under
# FastAPI (GET only), which shows how much of the ceiling the framework itself leaves.
REFERENCE_APPS = {"ceiling": REFERENCE_SCENARIOS, "common": REFERENCE_SCENARIOS, "floor": ("get_case",)}
WRITERS = 500


@dataclass
class Options:
    smoke: bool
    seconds: float
    warmup: float
    connections: int
    workers: tuple[int, ...]
    output: Path
    scenarios: tuple[str, ...]
    outbox: bool
    command: str
    admin_dsn: str


@dataclass
class Outcome:
    """What a scenario gave on one app: a measurement, or why there is none."""

    result: LoadResult | None = None
    missing: str | None = None


@dataclass
class AppRun:
    name: str
    workers: int
    outcomes: dict[str, Outcome] = field(default_factory=dict)
    rss_start: list[float] = field(default_factory=list)
    rss_warm: list[float] = field(default_factory=list)
    rss_end: list[float] = field(default_factory=list)


def parse_args(argv: list[str] | None = None) -> Options:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="tiny data set, 1 s per scenario (what CI runs)")
    parser.add_argument("--seconds", type=float, help="measured seconds per scenario (default 20; smoke 1)")
    parser.add_argument("--warmup", type=float, help="unmeasured seconds before each (default 3; smoke none)")
    parser.add_argument("--connections", type=int, help="concurrent connections (default 64; smoke 16)")
    parser.add_argument("--workers", default=None, help="service worker counts, comma-separated (default 1,2; smoke 1)")
    parser.add_argument("--only", default=None, help="comma-separated scenarios (default: all)")
    parser.add_argument("--no-outbox", action="store_true", help="skip the outbox measurements")
    parser.add_argument("--admin-dsn", default=ADMIN_DSN, help=f"a PostgreSQL database to create the data set from (default {ADMIN_DSN})")
    parser.add_argument("--output", type=Path, help="report path (default bench/RESULTS.md; smoke: a temp file)")
    args = parser.parse_args(argv)
    unknown = sorted(set(args.only.split(",")) - set(SERVICE_SCENARIOS)) if args.only else []
    if unknown:
        parser.error(f"--only: unknown scenario {', '.join(unknown)}; choose from {', '.join(SERVICE_SCENARIOS)}")
    smoke = args.smoke
    return Options(
        smoke=smoke,
        seconds=args.seconds or (1.0 if smoke else 20.0),
        warmup=args.warmup if args.warmup is not None else (0.0 if smoke else 3.0),
        connections=args.connections or (16 if smoke else 64),
        workers=tuple(int(w) for w in (args.workers or ("1" if smoke else "1,2")).split(",")),
        output=args.output or (Path(tempfile.mkdtemp()) / "RESULTS.md" if smoke else Path(__file__).parent / "RESULTS.md"),
        scenarios=tuple(args.only.split(",")) if args.only else SERVICE_SCENARIOS,
        outbox=not args.no_outbox,
        admin_dsn=args.admin_dsn,
        command=" ".join([".venv/bin/python", "bench/run.py", *(argv if argv is not None else sys.argv[1:])]),
    )


def main(argv: list[str] | None = None) -> report.Report:
    options = parse_args(argv)
    ensure_wrk()
    return asyncio.run(run(options))


async def run(options: Options) -> report.Report:
    started = dt.datetime.now(dt.UTC)
    load_before = os.getloadavg()
    name = f"fm_cases_bench_smoke_{os.getpid()}" if options.smoke else FULL_DATABASE
    dataset = await ensure_dataset(options.admin_dsn, name, SMOKE_SPEC if options.smoke else DatasetSpec())
    warmed = await prewarm(dataset)
    print(f"dataset: {warmed.describe()}")
    if (advice := warmed.advice()) and not options.smoke:
        print(f"WARNING: {advice}")
    broker = Broker.for_run()
    service_env = {
        "DATABASE_URL": dataset.sqlalchemy_url,
        "AUTO_MIGRATE": "false",
        "LOG_LEVEL": "WARNING",
        "ENVIRONMENT": "production",
        "ACCESS_LOG": "false",
        # One key for every worker, so a cursor issued by one worker is accepted by the other.
        "CURSOR_SECRET": "fm-bench-cursor-secret-0123456789abcdef",
        **broker.service_env(),
    }
    try:
        with tempfile.TemporaryDirectory(prefix="fm-bench-") as tmp:
            work = Path(tmp)
            (work / "logs").mkdir()
            await write_samples(dataset, work, options)
            await outbox.settle_pending(dataset)
            runs = await measure_all(dataset, work, options, service_env)
            outbox_result = (
                await outbox.measure(dataset, work, broker, service_env, smoke=options.smoke)
                if options.outbox
                else outbox.skipped("--no-outbox")
            )
    finally:
        await broker.delete()
        if options.smoke:
            await drop_database(options.admin_dsn, name)
    result = report.Report(
        command=options.command,
        started=started,
        finished=dt.datetime.now(dt.UTC),
        load_before=load_before,
        load_after=os.getloadavg(),
        dataset=dataset,
        warmed=warmed,
        connections=options.connections,
        seconds=options.seconds,
        runs=runs,
        outbox=outbox_result,
    )
    options.output.write_text(report.render(result), encoding="utf-8")
    print(f"wrote {options.output}")
    return result


async def measure_all(dataset: Dataset, work: Path, options: Options, service_env: dict[str, str]) -> list[AppRun]:
    runs = []
    reference_env = {"BENCH_DSN": dataset.dsn, "BENCH_POOL_SIZE": "20"}
    for workers in options.workers:
        apps = [(Server("service", "case_service.main:app", service_env, workers=workers), options.scenarios)]
        if workers == 1:
            # The references are measured beside the service's 1-worker pass, on the same data and load.
            for name, answers in REFERENCE_APPS.items():
                wanted = tuple(s for s in options.scenarios if s in answers)
                if wanted:
                    apps.append((Server(name, f"bench.refapps.{name}:create_app", reference_env, factory=True), wanted))
        runs += await measure_side_by_side(apps, dataset, work, options)
    return runs


async def measure_side_by_side(
    apps: list[tuple[Server, tuple[str, ...]]], dataset: Dataset, work: Path, options: Options
) -> list[AppRun]:
    """Every app runs at once; each scenario is measured on each app in turn, the service first, so
    the ratios compare measurements taken seconds apart (this machine's speed drifts over minutes).
    Each app first gets a warm-up pass over all its scenarios. RSS is read at start, after the
    warm-up pass (every code path, pool connection and cache has been used once) and at the end:
    growth over the measured pass is what a leak would show.

    While a reference app is loaded the service is paused (SIGSTOP), so its relay and gauges take
    no CPU from it; the rows a reference's creates leave pending in `event_outbox` are marked
    published before the service resumes, so its relay never publishes them."""
    service = apps[0][0]
    runs = {id(server): AppRun(server.name, server.workers) for server, _ in apps}
    envs: dict[int, dict[str, dict[str, str]]] = {id(server): {} for server, _ in apps}
    with contextlib.ExitStack() as stack:
        for server, _ in apps:
            stack.enter_context(server)
            server.start(work / "logs")
            runs[id(server)].rss_start = server.rss_mib()
        available = probe.available_scenarios(service.base_url)

        async def load(server: Server, scenario: str, seconds: float, *, measured: bool) -> LoadResult:
            # On idle CPUs: the last load's work is done, and the service's relay has nothing left to
            # mark published (paused in the middle of that, it would hold rows the clean-up after a
            # reference's creates must update).
            if not await asyncio.to_thread(wait_until_quiet) and measured:
                print(f"{server.name} {server.workers}w {scenario}: the machine did not go quiet; measuring anyway")
            if server is not service:
                service.pause()
            try:
                result = await asyncio.to_thread(
                    run_wrk, server.base_url, scenario, data_dir=work, seconds=seconds,
                    connections=options.connections, env=envs[id(server)][scenario],
                )  # fmt: skip
                if server is not service and scenario == "create_case":
                    await outbox.settle_pending(dataset)
            finally:
                service.resume()
            return result

        for server, scenarios in apps:
            for scenario in scenarios:
                missing = available.get(scenario)
                if missing:
                    runs[id(server)].outcomes[scenario] = Outcome(missing=missing)
                    print(f"{server.name} {server.workers}w {scenario}: {missing}")
                    continue
                envs[id(server)][scenario] = await prepare(scenario, service, dataset, work, options, available)
                if options.warmup > 0:
                    await prepare_pools(scenario, dataset, work, options)
                    await load(server, scenario, options.warmup, measured=False)
            runs[id(server)].rss_warm = server.rss_mib()
        for scenario in options.scenarios:
            for server, _ in apps:
                if scenario not in envs[id(server)]:
                    continue
                await prepare_pools(scenario, dataset, work, options)
                result = await load(server, scenario, options.seconds, measured=True)
                runs[id(server)].outcomes[scenario] = Outcome(result=result)
                print(
                    f"{server.name} {server.workers}w {scenario}: {result.rps:,.0f} rps, p50 {result.p50_ms:.1f} ms, "
                    f"p99 {result.p99_ms:.1f} ms, {result.errors} errors"
                )
        for server, _ in apps:
            run = runs[id(server)]
            run.rss_end = server.rss_mib()
            if any(o.result and o.result.errors for o in run.outcomes.values()):
                tail = server.log_path.read_text()[-2000:] if server.log_path else ""
                print(f"{server.name}: errors; server log tail:\n{tail}")
    return list(runs.values())


def dashboard_mix(available: dict[str, str | None]) -> str:
    weights = {"get_case": 35, "list_first_page": 20, "context": 10, "add_message": 10, "create_case": 5}
    if not available.get("search"):
        weights["search"] = 10
    if not available.get("stats"):
        weights["stats"] = 10
    return ",".join(f"{name}={weight}" for name, weight in weights.items())


async def prepare(
    scenario: str, server: Server, dataset: Dataset, work: Path, options: Options, available: dict[str, str | None]
) -> dict[str, str]:
    """Per-scenario files and settings that depend on the service's API (cursors, search paths)."""
    if scenario == "dashboard":
        for part in ("search", "stats"):
            if not available.get(part):
                await probe.write_paths(part, server.base_url, dataset, work)
        return {"BENCH_MIX": dashboard_mix(available)}
    if scenario in ("list_cursor_10k", "search", "stats"):
        await probe.write_paths(scenario, server.base_url, dataset, work, smoke=options.smoke)
    return {}


async def write_samples(dataset: Dataset, work: Path, options: Options) -> None:
    """cases.tsv: (owner, case) pairs spread over the data set; writers.tsv: users that create cases."""
    conn = await asyncpg.connect(dataset.dsn)
    try:
        rows = await conn.fetch(
            "SELECT user_id, case_id FROM cases WHERE seq % $1 = 0 AND user_id LIKE 'user_%' LIMIT 10000",
            max(1, dataset.spec.cases // 10_000),
        )
    finally:
        await conn.close()
    (work / "cases.tsv").write_text("".join(f"{r['user_id']}\t{r['case_id']}\n" for r in rows))
    (work / "writers.tsv").write_text("".join(f"bench-writer-{i:03d}\tw\n" for i in range(WRITERS)))


async def prepare_pools(scenario: str, dataset: Dataset, work: Path, options: Options) -> None:
    """Fresh cases for the scenarios that move statuses or append messages, so no two runs collide."""
    size = 200 if options.smoke else 5_000
    pools = {"change_status": "status_pool.tsv", "add_message": "message_pool.tsv", "dashboard": "message_pool.tsv"}
    if scenario not in pools:
        return
    conn = await asyncpg.connect(dataset.dsn)
    try:
        rows = await conn.fetch(_POOL_SQL, size, WRITERS)
    finally:
        await conn.close()
    (work / pools[scenario]).write_text("".join(f"{r['user_id']}\t{r['case_id']}\n" for r in rows))


_POOL_SQL = """
INSERT INTO cases (case_id, user_id, title, description, status, severity, category, metadata,
                   created_at, updated_at, version, message_count, last_activity_at)
SELECT 'case_' || substr(md5(random()::text || g::text), 1, 12),
       'bench-writer-' || lpad((g % $2::int)::text, 3, '0'), 'Pool case ' || g::text, '', 'investigating',
       'medium', 'other', '{}'::jsonb, now(), now(), 2, 0, now()
FROM generate_series(1, $1::int) AS g
RETURNING user_id, case_id
"""


async def drop_database(admin_dsn: str, name: str) -> None:
    conn = await asyncpg.connect(admin_dsn)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


if __name__ == "__main__":
    started = time.perf_counter()
    main()
    print(f"done in {time.perf_counter() - started:.0f} s")
