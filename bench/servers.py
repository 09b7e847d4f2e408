"""Starting the apps under test as separate processes, waiting until they answer, reading their RSS."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
# The same server settings for every app: uvloop + httptools, no access log.
UVICORN_FLAGS = ["--loop", "uvloop", "--http", "httptools", "--no-access-log", "--log-level", "warning"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Server:
    name: str
    target: str  # uvicorn's app argument
    env: dict[str, str]
    workers: int = 1
    factory: bool = False
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None
    log_path: Path | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, log_dir: Path, timeout: float = 60.0) -> None:
        command = [sys.executable, "-m", "uvicorn", self.target, "--host", "127.0.0.1", "--port", str(self.port)]
        command += ["--workers", str(self.workers), *UVICORN_FLAGS] + (["--factory"] if self.factory else [])
        self.log_path = log_dir / f"{self.name}-{self.workers}w.log"
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                command, cwd=REPO, env={**os.environ, **self.env}, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True,
            )  # fmt: skip
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited at start:\n{self.log_path.read_text()[-3000:]}")
            if self._answers() and len(self.worker_pids()) == self.workers:
                return
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"{self.name} did not answer /health within {timeout} s")

    def _answers(self) -> bool:
        try:
            with urllib.request.urlopen(self.base_url + "/health", timeout=1) as response:
                return bool(response.status == 200)
        except OSError:
            return False

    def worker_pids(self) -> list[int]:
        """The processes that serve requests: uvicorn itself with one worker, its children with more."""
        assert self.process is not None
        if self.workers == 1:
            return [self.process.pid]
        children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        try:
            pids = [int(pid) for pid in children.read_text().split()]
            # multiprocessing's resource tracker is a child too; it serves nothing.
            return [pid for pid in pids if b"resource_tracker" not in Path(f"/proc/{pid}/cmdline").read_bytes()]
        except OSError:
            return []

    def rss_mib(self) -> list[float]:
        return [rss_mib(pid) for pid in self.worker_pids()]

    def pause(self) -> None:
        """Stop every process of the app (SIGSTOP): it takes no CPU until `resume`."""
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGSTOP)

    def resume(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGCONT)

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.resume()  # a paused app would not act on SIGTERM until continued
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()

    def __enter__(self) -> Server:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()


def wait_until_quiet(window: float = 0.25, idle_share: float = 0.9, limit: float = 15.0) -> bool:
    """Wait until the machine's CPUs are idle (`idle_share` over two windows in a row), so a
    measurement does not start while the last one's requests are still being served: wrk stops
    sending, but the 64 requests in flight (a search, a stats count) and the events the relay has
    still to publish keep the service and the database busy for a moment. False when `limit`
    seconds pass first."""
    deadline = time.monotonic() + limit
    quiet_windows = 0
    before = _cpu_times()
    while time.monotonic() < deadline:
        time.sleep(window)
        after = _cpu_times()
        busy, idle = after[0] - before[0], after[1] - before[1]
        before = after
        quiet_windows = quiet_windows + 1 if idle >= idle_share * (busy + idle) else 0
        if quiet_windows == 2:
            return True
    return False


def _cpu_times() -> tuple[int, int]:
    """(busy, idle) clock ticks of all CPUs since boot, from /proc/stat (iowait counts as idle)."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = values[3] + values[4]
    return sum(values) - idle, idle


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0
