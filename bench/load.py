"""Driving load with wrk (a separate C process) and reading its result line."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

WRK_DIR = Path(__file__).resolve().parent / "wrk"


def ensure_wrk() -> str:
    """wrk from Debian's package, installed on first use (the harness runs as root on these machines)."""
    found = shutil.which("wrk")
    if found:
        return found
    for command in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", "wrk"]):
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL, env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"})
    found = shutil.which("wrk")
    if not found:
        raise RuntimeError("wrk is not installed and apt-get could not install it")
    return found


@dataclass(frozen=True)
class LoadResult:
    requests: int
    seconds: float
    errors: int  # socket errors, timeouts and answers >= 400
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


def run_wrk(
    base_url: str, scenario: str, *, data_dir: Path, seconds: float, connections: int, env: dict[str, str] | None = None
) -> LoadResult:
    """One wrk run of `scenario` (a generator in wrk/scenarios.lua) against `base_url`."""
    command = [
        ensure_wrk(), "-t1", f"-c{connections}", f"-d{max(1, round(seconds))}s", "--timeout", "10s",
        "-s", str(WRK_DIR / "scenarios.lua"), base_url,
    ]  # fmt: skip
    run_env = {**os.environ, **(env or {}), "BENCH_SCENARIO": scenario, "BENCH_WRK_DIR": str(WRK_DIR), "BENCH_DATA_DIR": str(data_dir)}
    done = subprocess.run(command, env=run_env, capture_output=True, text=True, timeout=seconds + 60)
    line = next((line for line in done.stdout.splitlines() if line.startswith("BENCH_RESULT ")), None)
    if done.returncode != 0 or line is None:
        raise RuntimeError(f"wrk failed on {scenario} ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    raw = json.loads(line.removeprefix("BENCH_RESULT "))
    errors = sum(raw[kind] for kind in ("connect", "read", "write", "status", "timeout"))
    return LoadResult(
        requests=raw["requests"],
        seconds=raw["duration_us"] / 1e6,
        errors=errors,
        p50_ms=raw["p50_us"] / 1000,
        p90_ms=raw["p90_us"] / 1000,
        p99_ms=raw["p99_us"] / 1000,
        max_ms=raw["max_us"] / 1000,
    )
