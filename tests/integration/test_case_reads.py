"""A plain read of a case on PostgreSQL goes straight through asyncpg, on the pool's connection as it
is; a read inside a transaction goes through SQLAlchemy. Both must give the same case.
PostgreSQL-only: SQLite has one path."""

from __future__ import annotations

from datetime import UTC, datetime

import asyncpg
import pytest
from fastapi import FastAPI
from httpx import AsyncClient

from sqlalchemy import text

from case_service.adapters.case_queries import CaseQueries
from case_service.adapters.database import Database, LazyConnection
from case_service.adapters.repository import CaseRepository
from case_service.config import Settings
from case_service.domain.errors import DatabaseUnavailable
from case_service.domain.queries import CaseQuery
from tests.api.helpers import create

pytestmark = [pytest.mark.postgres_only, pytest.mark.parametrize("backend", ["postgresql"])]


async def test_a_read_outside_a_transaction_gives_the_same_case_as_one_inside(app: FastAPI, client: AsyncClient) -> None:
    made = await create(
        client,
        title="Two paths",
        tags=["zeta", "alpha", "mid"],
        metadata={"region": "eu-west", "nested": {"count": 3, "flags": [True, None]}},
    )
    database = app.state.database

    async with LazyConnection(database, write=False) as conn:
        assert not conn.in_transaction()
        plain = await CaseRepository(conn).get(made["case_id"], "alice")
        missing = await CaseRepository(conn).get("case_000000000000", "alice")
        someone_elses = await CaseRepository(conn).get(made["case_id"], "bob")
    async with LazyConnection(database, write=True) as conn:
        assert conn.in_transaction()
        in_transaction = await CaseRepository(conn).get(made["case_id"], "alice")

    assert plain is not None and in_transaction is not None
    assert vars(plain) == vars(in_transaction)  # a Case compares by identity; its fields must match
    assert plain.tags == ["alpha", "mid", "zeta"]
    assert plain.metadata == {"region": "eu-west", "nested": {"count": 3, "flags": [True, None]}}
    assert plain.created_at.tzinfo is not None and plain.created_at.utcoffset() == UTC.utcoffset(None)
    assert missing is None and someone_elses is None


async def test_timestamps_read_through_sqlalchemy_are_utc_whatever_the_sessions_time_zone(
    app: FastAPI, client: AsyncClient
) -> None:
    # UTCDateTime leaves asyncpg's timestamps as they come: asyncpg answers timestamptz in UTC.
    made = await create(client, title="Read in Kolkata")
    written = datetime.fromisoformat(made["created_at"])
    async with LazyConnection(app.state.database, write=True) as conn:
        await conn.execute(text("SET LOCAL TIME ZONE 'Asia/Kolkata'"))
        assert (await conn.execute(text("SELECT now()::text"))).scalar_one().endswith("+05:30")
        one = await CaseRepository(conn).get(made["case_id"], "alice")
        page = await CaseQueries(conn).list(CaseQuery(user_id="alice"))
    assert one is not None and [case.case_id for case in page.cases] == [made["case_id"]]
    for case in (one, page.cases[0]):
        for moment in (case.created_at, case.updated_at, case.last_activity_at):
            assert moment is not None and moment.tzinfo is UTC
        assert case.created_at == written


async def test_a_case_without_tags_reads_as_an_empty_list(app: FastAPI, client: AsyncClient) -> None:
    made = await create(client, title="No tags")
    async with LazyConnection(app.state.database, write=False) as conn:
        case = await CaseRepository(conn).get(made["case_id"], "alice")
    assert case is not None and case.tags == [] and case.metadata == {}


async def _server_pid(driver: asyncpg.Connection) -> int:
    return driver.get_server_pid()


async def test_a_plain_read_holds_one_pool_place_whichever_way_its_statements_go(
    settings: Settings, client: AsyncClient
) -> None:
    made = await create(client, title="One place", tags=["solo"])
    # One connection in the pool: a read that held the driver's and then asked for SQLAlchemy's
    # would wait for itself until the connect timeout, and answer 503.
    database = Database(settings.model_copy(update={"database_pool_size": 1, "database_connect_timeout": 2}))
    try:
        async with LazyConnection(database, write=False) as conn:
            case = await CaseRepository(conn).get(made["case_id"], "alice")  # by the driver
            counts = await CaseRepository(conn).tag_counts("alice")  # by SQLAlchemy
            # by the driver, under SQLAlchemy's connection
            again = await CaseRepository(conn).get(made["case_id"], "alice")
        assert case is not None and again is not None and vars(case) == vars(again)
        assert [(count.tag, count.count) for count in counts] == [("solo", 1)]
        assert database.engine.pool.checkedout() == 0  # and it went back
    finally:
        await database.dispose()


async def test_a_plain_read_on_a_connection_the_server_dropped_is_unavailable_and_that_connection_is_not_reused(
    settings: Settings, client: AsyncClient
) -> None:
    made = await create(client, title="Read while the connection drops")
    database = Database(settings.model_copy(update={"database_pool_size": 1}))
    try:
        with pytest.raises(DatabaseUnavailable):
            async with LazyConnection(database, write=False) as conn:
                dropped = await conn.read_by_driver(_server_pid)
                admin = await asyncpg.connect(settings.database_url.replace("+asyncpg", "", 1))
                try:
                    assert await admin.fetchval("SELECT pg_terminate_backend($1)", dropped)
                finally:
                    await admin.close()
                await CaseRepository(conn).get(made["case_id"], "alice")
        # The pool's one connection is a new one, and it reads.
        async with LazyConnection(database, write=False) as conn:
            assert await conn.read_by_driver(_server_pid) != dropped
            case = await CaseRepository(conn).get(made["case_id"], "alice")
        assert case is not None and case.title == "Read while the connection drops"
    finally:
        await database.dispose()
