"""/docs and /redoc render in a real browser with every host but this one unreachable.

Headless Chromium (Debian's `chromium`; installed here with apt-get when missing, as CI does) loads
the pages from the real server. A CDN asset would not load, and the operations would not render.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import migrate
from tests.support.server import RunningServer, serve

CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    # Every name resolves to nothing except the server under test: the page must need no internet.
    "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",
    # Run the page's scripts (rendering the spec) before the DOM is dumped.
    "--virtual-time-budget=20000",
]


@pytest.fixture(scope="module")
def chromium() -> str:
    found = shutil.which("chromium")
    if found is None and shutil.which("apt-get"):
        subprocess.run(["apt-get", "update", "-q"], check=False, capture_output=True, timeout=300)
        subprocess.run(
            ["apt-get", "install", "-y", "-q", "chromium"],
            check=False,
            capture_output=True,
            timeout=600,
            env={"DEBIAN_FRONTEND": "noninteractive", "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"},
        )
        found = shutil.which("chromium")
    if found is None:
        pytest.fail("chromium is not installed and apt-get could not install it")
    return found


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    workdir = tmp_path_factory.mktemp("docs")
    url = f"sqlite+aiosqlite:///{workdir / 'docs.db'}"
    migrate(url)
    with serve(url, workdir, ACCESS_LOG="false") as running:
        yield running


def rendered_dom(chromium: str, url: str, profile: Path) -> str:
    result = subprocess.run(
        [chromium, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "--dump-dom", url],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


def test_swagger_ui_renders_the_operations_offline(chromium: str, server: RunningServer, tmp_path: Path) -> None:
    dom = rendered_dom(chromium, f"{server.base_url}/docs", tmp_path / "profile")
    assert "cdn.jsdelivr.net" not in dom and "/static-offline-docs/swagger-ui-bundle.js" in dom
    assert "opblock-summary-description" in dom, "Swagger UI did not render any operation"
    for summary in ("Create a case", "Get a case", "List the caller's cases"):
        assert summary in dom


def test_redoc_renders_the_operations_offline(chromium: str, server: RunningServer, tmp_path: Path) -> None:
    dom = rendered_dom(chromium, f"{server.base_url}/redoc", tmp_path / "profile")
    assert "/static-offline-docs/redoc.standalone.js" in dom
    assert "Create a case" in dom and "FaultMaven Case Service" in dom
