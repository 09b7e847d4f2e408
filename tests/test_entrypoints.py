"""The three documented ways to start the service each serve the API on a fresh SQLite database."""

from __future__ import annotations

import gc
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _commands(port: int) -> dict[str, list[str]]:
    return {
        "uvicorn": [str(BIN / "uvicorn"), "case_service.main:app", "--port", str(port)],
        "python -m": [sys.executable, "-m", "case_service.main"],
        "case-service serve": [str(BIN / "case-service"), "serve"],
    }


@pytest.fixture
def workdir(tmp_path: Path) -> Iterator[Path]:
    # alembic.ini sits in the repository: run from a copy of what a user has in the checkout.
    shutil.copy(REPO / "alembic.ini", tmp_path / "alembic.ini")
    shutil.copytree(REPO / "migrations", tmp_path / "migrations")
    yield tmp_path


@pytest.mark.parametrize("how", ["uvicorn", "python -m", "case-service serve"])
def test_each_documented_command_serves_the_api(how: str, workdir: Path) -> None:
    port = _free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_", "CASE_"))},
        "PORT": str(port),
        "OUTBOX_RELAY_ENABLED": "false",
    }
    server = subprocess.Popen(
        _commands(port)[how], cwd=workdir, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            assert server.poll() is None, server.stderr.read().decode() if server.stderr else "server exited"
            try:
                if httpx.get(f"{base}/ready", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "the server did not become ready within 30 s"
            time.sleep(0.1)
        created = httpx.post(f"{base}/api/v1/cases", json={}, headers={"X-User-ID": "alice"}, timeout=5)
        assert created.status_code == 201
        fetched = httpx.get(f"{base}/api/v1/cases/{created.json()['case_id']}", headers={"X-User-ID": "alice"})
        assert fetched.json()["title"].startswith("Case-")
        # The embedded default: a SQLite file created and migrated in the working directory.
        assert (workdir / "fm_cases.db").exists()
    finally:
        server.terminate()
        server.wait(timeout=15)


def test_the_serving_app_tunes_the_collector_and_test_apps_do_not(workdir: Path) -> None:
    """`case_service.main:app` (what uvicorn serves) freezes its start-up objects and collects the
    young generation every 10,000 allocations; an app from `create_app()` leaves the process's
    collector as it found it, so the tests keep Python's defaults."""
    probe = (
        "import gc, json; import case_service.main as main; "
        "main.create_app(); before = (gc.get_threshold(), gc.get_freeze_count()); "
        "main.app; after = (gc.get_threshold(), gc.get_freeze_count()); "
        "print(json.dumps([before, after]))"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_", "CASE_"))}
    done = subprocess.run([sys.executable, "-c", probe], cwd=workdir, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    (threshold_before, frozen_before), (threshold_after, frozen_after) = json.loads(done.stdout.splitlines()[-1])
    assert threshold_before == list(gc.get_threshold()) and frozen_before == 0
    assert threshold_after == [10_000, *threshold_before[1:]] and frozen_after > 0
