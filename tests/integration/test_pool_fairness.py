"""Connections go to requests in the order they asked. PostgreSQL-only: SQLite has no bounded pool.

SQLAlchemy's pool queue lets a caller that arrives just as a connection is returned take it ahead
of one already waiting; under steady load a few requests starved that way for seconds."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

import pytest

from case_service.adapters.database import Database
from case_service.domain.errors import DatabaseUnavailable
from tests.conftest import make_settings

pytestmark = pytest.mark.postgres_only


@pytest.fixture
async def one_connection(postgres_url: str) -> AsyncIterator[Database]:
    database = Database(make_settings(postgres_url, database_pool_size=1, database_connect_timeout=1))
    yield database
    await database.dispose()


async def until(condition: Callable[[], bool]) -> None:
    """Let other tasks run until `condition` holds (a bounded number of loop turns)."""
    for _ in range(1000):
        if condition():
            return
        await asyncio.sleep(0)
    raise AssertionError("the condition never held")


async def test_a_waiting_request_gets_the_connection_before_a_later_one(one_connection: Database) -> None:
    served: list[str] = []
    release_first = asyncio.Event()
    holding = asyncio.Event()
    waiting: set[str] = set()

    async def request(name: str, hold: asyncio.Event | None = None) -> None:
        waiting.add(name)
        async with one_connection.connection(write=False) as conn:
            waiting.discard(name)
            served.append(name)
            if hold is not None:
                holding.set()
                await hold.wait()
            await conn.exec_driver_sql("SELECT 1")

    first = asyncio.create_task(request("first", hold=release_first))
    await holding.wait()
    waiter = asyncio.create_task(request("waiter"))
    # The waiter is queued for the one connection once it has stopped being runnable.
    await until(lambda: "waiter" in waiting and all(not t.done() for t in (first, waiter)))
    for _ in range(5):
        await asyncio.sleep(0)
    # The connection comes back while new requests keep arriving, one more at every turn of the loop.
    release_first.set()
    latecomers = []
    for number in range(20):
        latecomers.append(asyncio.create_task(request(f"latecomer {number}")))
        await asyncio.sleep(0)
    await asyncio.gather(first, waiter, *latecomers)

    assert served == ["first", "waiter", *(f"latecomer {number}" for number in range(20))]


async def test_a_request_that_waits_longer_than_the_timeout_gets_database_unavailable(
    one_connection: Database,
) -> None:
    async with one_connection.connection(write=False):
        with pytest.raises(DatabaseUnavailable):
            async with one_connection.connection(write=False):
                pass
    # The connection that was held is still usable afterwards.
    async with one_connection.connection(write=False) as conn:
        assert (await conn.exec_driver_sql("SELECT 1")).scalar() == 1
