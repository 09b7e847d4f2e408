"""The Markdown report: every number of one run, the ratios, the targets, the machine and the command."""

from __future__ import annotations

import datetime as dt
import os
import platform
import subprocess
from dataclasses import dataclass
from typing import TYPE_CHECKING

from bench.dataset import Dataset, Warmed
from bench.load import LoadResult
from bench.outbox import Latency, OutboxResult

if TYPE_CHECKING:
    from bench.run import AppRun

TITLES = {
    "get_case": "GET case by id",
    "list_first_page": "list, first page, `status=active`",
    "list_cursor_10k": "list, page at cursor depth 10,000",
    "search": "full-text search",
    "stats": "stats",
    "context": "agent context",
    "create_case": "create case",
    "add_message": "add message",
    "change_status": "status change",
    "dashboard": "mixed dashboard profile",
}


@dataclass(frozen=True)
class Report:
    command: str
    started: dt.datetime
    finished: dt.datetime
    load_before: tuple[float, float, float]
    load_after: tuple[float, float, float]
    dataset: Dataset
    warmed: Warmed
    connections: int
    seconds: float
    runs: list[AppRun]
    outbox: OutboxResult

    def run(self, name: str, workers: int = 1) -> AppRun | None:
        return next((r for r in self.runs if r.name == name and r.workers == workers), None)

    def result(self, name: str, scenario: str, workers: int = 1) -> LoadResult | None:
        run = self.run(name, workers)
        outcome = run.outcomes.get(scenario) if run else None
        return outcome.result if outcome else None

    def ratio(self, scenario: str, reference: str) -> float | None:
        ours, theirs = self.result("service", scenario), self.result(reference, scenario)
        return ours.rps / theirs.rps if ours and theirs and theirs.rps else None

    @property
    def errors(self) -> int:
        requests = sum(o.result.errors for r in self.runs for o in r.outcomes.values() if o.result)
        return requests + sum(latency.errors for _label, latency in _latencies(self.outbox))


def _shell(*command: str) -> str:
    try:
        return subprocess.run(command, capture_output=True, text=True, timeout=10).stdout.strip()
    except OSError:
        return "?"


def machine() -> str:
    cpu = next((line.split(":", 1)[1].strip() for line in _shell("lscpu").splitlines() if line.startswith("Model name")), "?")
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    postgres = _shell("psql", "--version")
    return (
        f"{os.cpu_count()} cores ({cpu}), {memory:.0f} GiB RAM, Linux {platform.release()}, "
        f"Python {platform.python_version()}, {postgres}, wrk {_shell('wrk', '-v').split()[1] if _shell('wrk', '-v') else '?'}"
    )


def _ratio(value: float | None) -> str:
    return f"{value:.2f}x" if value is not None else "—"


def _load(values: tuple[float, float, float]) -> str:
    return " / ".join(f"{v:.2f}" for v in values)


def _table(report: Report, name: str, workers: int, with_ratios: bool) -> list[str]:
    run = report.run(name, workers)
    if run is None:
        return []
    head = "| scenario | rps | p50 ms | p99 ms | errors |"
    rule = "|---|---:|---:|---:|---:|"
    if with_ratios:
        head += " service/ceiling | service/common |"
        rule += "---:|---:|"
    lines = [head, rule]
    for scenario, outcome in run.outcomes.items():
        title = TITLES.get(scenario, scenario)
        if outcome.result is None:
            lines.append(f"| {title} | {outcome.missing} | | | |" + (" | |" if with_ratios else ""))
            continue
        r = outcome.result
        row = f"| {title} | {r.rps:,.0f} | {r.p50_ms:.1f} | {r.p99_ms:.1f} | {r.errors} |"
        if with_ratios:
            row += f" {_ratio(report.ratio(scenario, 'ceiling'))} | {_ratio(report.ratio(scenario, 'common'))} |"
        lines.append(row)
    return lines


def _floor(report: Report) -> list[str]:
    """The FastAPI floor, beside the ceiling it is measured against."""
    if not report.run("floor", 1):
        return []
    floor, ceiling = report.result("floor", "get_case"), report.result("ceiling", "get_case")
    share = f"{floor.rps / ceiling.rps:.2f}x" if floor and ceiling and ceiling.rps else "—"
    return [
        "## Floor under FastAPI: one route, one `Header` dependency, asyncpg + orjson, 1 worker",
        "",
        "The ceiling's statement and body behind FastAPI's routing and parameter handling, nothing else "
        f"(`bench/refapps/floor.py`): **{share} of the ceiling** on GET by id in this run. The service, "
        "built on the same framework, adds the caller's checks, correlation ids, metrics and spans, the "
        "error body, ETags, the domain object and the response model on top of it.",
        "",
        *_table(report, "floor", 1, with_ratios=False),
        "",
    ]


def _rss(report: Report) -> list[str]:
    lines = [
        "| app | workers | RSS at start (MiB) | after the warm-up pass | at end | growth over the measured pass |",
        "|---|---:|---|---|---|---:|",
    ]
    for run in report.runs:
        def fmt(values: list[float]) -> str:
            return ", ".join(f"{v:.0f}" for v in values) or "—"
        growth = (
            max((end - warm) / warm * 100 for warm, end in zip(run.rss_warm, run.rss_end, strict=False))
            if run.rss_warm and run.rss_end
            else 0.0
        )
        lines.append(f"| {run.name} | {run.workers} | {fmt(run.rss_start)} | {fmt(run.rss_warm)} | {fmt(run.rss_end)} | {growth:+.1f}% |")
    return lines


def _targets(report: Report) -> list[str]:
    rows = []

    def check(what: str, ok: bool | None, measured: str) -> None:
        verdict = "not measured" if ok is None else ("met" if ok else "**missed**")
        rows.append(f"| {what} | {measured} | {verdict} |")

    get = report.result("service", "get_case")
    first, deep = report.result("service", "list_first_page"), report.result("service", "list_cursor_10k")
    search = report.result("service", "search")
    get_ratio, create_ratio = report.ratio("get_case", "ceiling"), report.ratio("create_case", "ceiling")
    check("GET by id >= 0.5x ceiling rps", None if get_ratio is None else get_ratio >= 0.5, _ratio(get_ratio))
    check("GET by id p99 <= 50 ms", None if get is None else get.p99_ms <= 50, f"{get.p99_ms:.1f} ms" if get else "—")
    check("create >= 0.4x ceiling rps", None if create_ratio is None else create_ratio >= 0.4, _ratio(create_ratio))
    if first and deep:
        spread = max(first.p50_ms, deep.p50_ms) / max(min(first.p50_ms, deep.p50_ms), 0.001)
        check("first page and cursor depth 10,000 within 1.5x (p50)", spread <= 1.5, f"{spread:.2f}x")
        check("list p99 <= 50 ms (both)", max(first.p99_ms, deep.p99_ms) <= 50, f"{first.p99_ms:.1f} / {deep.p99_ms:.1f} ms")
    else:
        check("first page and cursor depth 10,000 within 1.5x", None, "—")
    check("search p99 <= 100 ms", None if search is None else search.p99_ms <= 100, f"{search.p99_ms:.1f} ms" if search else "—")
    ob = report.outbox
    for label, latency in [] if ob.pending else _latencies(ob):
        check(
            f"outbox commit-to-publish p99 <= 100 ms, relay {label}, from the write",
            latency.p99_ms <= 100,
            f"{latency.p99_ms:.1f} ms (from the 201: {latency.after_reply_p99_ms:.1f} ms)",
        )
    check("outbox drain >= 5,000 events/s", None if ob.pending else ob.drain_per_s >= 5000, "—" if ob.pending else f"{ob.drain_per_s:,.0f}/s")
    check("zero errors", report.errors == 0, str(report.errors))
    service_runs = [r for r in report.runs if r.name == "service" and r.rss_warm and r.rss_end]
    growth = max(
        ((end - warm) / warm * 100 for r in service_runs for warm, end in zip(r.rss_warm, r.rss_end, strict=False)),
        default=None,
    )
    check("service RSS growth <= 10% (over the measured pass)", None if growth is None else growth <= 10, "—" if growth is None else f"{growth:+.1f}%")
    return ["| target (1 worker, 64 connections) | measured | |", "|---|---|---|", *rows]


def _outbox(report: Report) -> list[str]:
    ob = report.outbox
    if ob.pending:
        return [f"Outbox: {ob.pending}."]
    lines = [
        f"Commit-to-publish at a steady {ob.rate_per_s:.0f} creates/s. The true time lies between the figures measured "
        "from the outbox row's write (a few statements before the commit: errs long) and those measured from the "
        "client's receipt of the 201 (after the commit: errs short, negative when the event arrived first).",
        "",
        "| relay | events | failed creates | p50 ms (from the write) | p99 ms (from the write) | p50 ms (from the 201) "
        "| p99 ms (from the 201) |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for label, latency in _latencies(ob):
        lines.append(
            f"| {label} | {latency.published:,} | {latency.errors} | {latency.p50_ms:.1f} | {latency.p99_ms:.1f} | "
            f"{latency.after_reply_p50_ms:.1f} | {latency.after_reply_p99_ms:.1f} |"
        )
    lines += ["", f"Drain of a {ob.backlog:,}-event backlog into NATS (relay in the API process): "
              f"{ob.drain_seconds:.1f} s, {ob.drain_per_s:,.0f} events/s."]  # fmt: skip
    return lines


def _latencies(ob: OutboxResult) -> list[tuple[str, Latency]]:
    found = [("in the API process (default)", ob.in_process), ("own process (`case-service relay`)", ob.own_process)]
    return [(label, latency) for label, latency in found if latency is not None]


def render(report: Report) -> str:
    spec = report.dataset.spec
    built = "reused" if report.dataset.built_seconds is None else f"built in {report.dataset.built_seconds:.0f} s"
    commit = _shell("git", "rev-parse", "--short", "HEAD") or "?"
    lines = [
        "# Benchmark results",
        "",
        f"Command: `{report.command}` (commit `{commit}`)",
        "",
        f"- run: {report.started:%Y-%m-%d %H:%M} to {report.finished:%H:%M} UTC; load average (1/5/15 min) "
        f"{_load(report.load_before)} at start, {_load(report.load_after)} at end",
        f"- machine: {machine()}",
        f"- data: database `{report.dataset.name}` at schema {report.dataset.revision}, {spec.cases:,} cases of "
        f"{spec.users:,} users (skewed), ~3 messages and 1-3 tags per case ({built})",
        f"- PostgreSQL's cache: {report.warmed.describe()}",
        f"- load: wrk, 1 thread, {report.connections} connections, {report.seconds:.0f} s per scenario after a warm-up pass over "
        "every scenario, each measurement started on idle CPUs; in the 1-worker pass each scenario measured on every app "
        "in turn, the service first (paused while the others run); the data set read into memory first (pg_prewarm, above); "
        "every app under uvicorn with uvloop + httptools, access log off, 20 database connections per worker",
        "",
        "## Service, 1 worker, against the ceiling and the common pattern",
        "",
        *_table(report, "service", 1, with_ratios=True),
        "",
    ]
    if report.run("service", 2):
        lines += ["## Service, 2 workers", "", *_table(report, "service", 2, with_ratios=False), ""]
    for name, title in (("ceiling", "Ceiling: Starlette + asyncpg + orjson"), ("common", "Common pattern: FastAPI + SQLAlchemy ORM + response_model")):
        if report.run(name, 1):
            lines += [f"## {title}, 1 worker", "", *_table(report, name, 1, with_ratios=False), ""]
    lines += _floor(report)
    lines += ["## Outbox", "", *_outbox(report), "", "## Memory (RSS per worker)", "", *_rss(report), ""]
    lines += ["## Targets", "", *_targets(report), ""]
    lines += ["What the profiles showed and what changed in the service because of them: [PROFILE.md](PROFILE.md).", ""]
    return "\n".join(lines)
