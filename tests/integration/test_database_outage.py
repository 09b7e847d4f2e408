"""PostgreSQL going away and coming back, through a TCP proxy this test cuts (the server itself is
shared and never stopped). PostgreSQL-only: SQLite is a file in the process, it cannot go away."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from httpx import AsyncClient
from sqlalchemy.engine import make_url

from case_service.main import create_app
from tests.conftest import client_for, make_settings, migrate
from tests.support.tcp_proxy import TcpProxy

pytestmark = pytest.mark.postgres_only

TIMEOUT = 1.0  # DATABASE_CONNECT_TIMEOUT and DATABASE_COMMAND_TIMEOUT of the app under test


@pytest.fixture
def fresh_database(postgres_server: Callable[[], str]) -> str:
    url = postgres_server()
    migrate(url)
    return url


@pytest.fixture
async def proxy(fresh_database: str) -> AsyncIterator[tuple[TcpProxy, str]]:
    url = make_url(fresh_database)
    proxy = TcpProxy(url.host or "127.0.0.1", url.port or 5432)
    await proxy.start()
    yield proxy, url.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
    await proxy.close()


@pytest.fixture
async def client(proxy: tuple[TcpProxy, str]) -> AsyncIterator[AsyncClient]:
    settings = make_settings(
        proxy[1], database_connect_timeout=TIMEOUT, database_command_timeout=TIMEOUT, access_log=False
    )
    app = create_app(settings)
    async with app.router.lifespan_context(app), client_for(app) as c:
        yield c


async def timed(call: Any) -> tuple[Any, float]:
    started = time.perf_counter()
    response = await call
    return response, time.perf_counter() - started


async def assert_unavailable(client: AsyncClient, limit: float, case_id: str) -> None:
    ready, took = await timed(client.get("/ready"))
    assert ready.status_code == 503 and ready.json()["checks"]["database"]["status"] == "down"
    assert took < 1.0, f"/ready took {took:.2f}s"
    calls = (
        # The read by id runs on asyncpg directly once it has a connection; a connection the server
        # drops under it is tested in test_case_reads.py.
        client.get(f"/api/v1/cases/{case_id}"),
        client.get("/api/v1/cases"),
        client.post("/api/v1/cases", json={"title": "during the outage"}),
    )
    for call in calls:
        response, took = await timed(call)
        assert response.status_code == 503, response.text
        body = response.json()
        assert body["code"] == "database_unavailable" and body["correlation_id"]
        assert set(body) == {"error", "code", "details", "correlation_id"}
        assert response.headers["Retry-After"] == "1"
        assert took < limit, f"{call} took {took:.2f}s"


async def assert_recovered(client: AsyncClient, titles: list[str], case_id: str) -> None:
    deadline = time.monotonic() + 5
    while (await client.get("/ready")).status_code != 200:
        assert time.monotonic() < deadline, "the service did not become ready again"
    listed = await client.get("/api/v1/cases")
    assert listed.status_code == 200
    # Nothing written during the outage; everything written before is there.
    assert sorted(case["title"] for case in listed.json()["cases"]) == sorted(titles)
    # Reads by id work again too, on every connection the pool now hands out.
    for _ in range(3):
        assert (await client.get(f"/api/v1/cases/{case_id}")).status_code == 200
    assert (await client.post("/api/v1/cases", json={"title": "after"})).status_code == 201


async def test_a_refused_database_fails_requests_at_once_and_recovers_by_itself(
    proxy: tuple[TcpProxy, str], client: AsyncClient
) -> None:
    before = await client.post("/api/v1/cases", json={"title": "before"})
    assert before.status_code == 201
    await proxy[0].cut()  # pooled connections reset, new ones refused
    await assert_unavailable(client, limit=0.5, case_id=before.json()["case_id"])
    await proxy[0].restore()
    await assert_recovered(client, ["before"], before.json()["case_id"])


async def test_a_hung_database_fails_requests_within_the_timeouts_and_recovers_by_itself(
    proxy: tuple[TcpProxy, str], client: AsyncClient
) -> None:
    before = await client.post("/api/v1/cases", json={"title": "before"})
    assert before.status_code == 201
    proxy[0].stall()  # connections stay open, nothing answers
    await assert_unavailable(client, limit=TIMEOUT * 2 + 0.5, case_id=before.json()["case_id"])
    await proxy[0].restore()
    await assert_recovered(client, ["before"], before.json()["case_id"])
