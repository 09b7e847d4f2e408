"""Alembic is the only source of the schema: it upgrades, downgrades, and matches the tables module."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from case_service.adapters.migrations import alembic_config
from case_service.adapters.tables import described_here, metadata
from tests.conftest import make_settings


async def _inspect(url: str) -> tuple[set[str], list[object]]:
    engine = create_async_engine(url)

    def read(conn: Connection) -> tuple[set[str], list[object]]:
        context = MigrationContext.configure(conn, opts={"compare_type": True, "include_name": described_here})
        return set(inspect(conn).get_table_names()), compare_metadata(context, metadata)

    try:
        async with engine.connect() as conn:
            return await conn.run_sync(read)
    finally:
        await engine.dispose()


# SQLite's reflection cannot read the expression indexes of 0006; they are left out of the comparison.
@pytest.mark.filterwarnings("ignore:Skipped unsupported reflection of expression-based index")
async def test_upgrade_builds_the_described_schema_and_downgrade_removes_it(fresh_url: str) -> None:
    import asyncio

    config = alembic_config(make_settings(fresh_url))
    await asyncio.to_thread(command.upgrade, config, "head")
    tables, diff = await _inspect(fresh_url)
    assert {"cases", "case_tags", "case_status_transitions", "case_messages", "case_history", "event_outbox"} <= tables
    assert diff == [], f"migrations and tables.py disagree: {diff}"

    await asyncio.to_thread(command.downgrade, config, "base")
    tables, _ = await _inspect(fresh_url)
    assert tables == {"alembic_version"}

    await asyncio.to_thread(command.upgrade, config, "head")
    tables, diff = await _inspect(fresh_url)
    assert diff == [] and "cases" in tables


async def test_the_conversation_migration_keeps_existing_cases_and_backfills_their_activity(fresh_url: str) -> None:
    import asyncio
    from datetime import UTC, datetime

    from sqlalchemy import text

    config = alembic_config(make_settings(fresh_url))
    await asyncio.to_thread(command.upgrade, config, "0001")
    updated = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    engine = create_async_engine(fresh_url)
    insert_case = text(
        "INSERT INTO cases (case_id, user_id, title, description, status, severity, category, metadata,"
        " created_at, updated_at, version) VALUES ('case_0123456789ab', 'alice', 'Old', '', 'active', 'low',"
        " 'other', '{}', :created, :updated, 3)"
    )
    read_case = text("SELECT message_count, last_activity_at FROM cases WHERE case_id = 'case_0123456789ab'")
    try:
        async with engine.begin() as conn:
            stamp = (lambda d: d.replace(tzinfo=None)) if conn.dialect.name == "sqlite" else (lambda d: d)
            await conn.execute(insert_case, {"created": stamp(updated), "updated": stamp(updated)})
        await asyncio.to_thread(command.upgrade, config, "head")
        async with engine.connect() as conn:
            count, activity = (await conn.execute(read_case)).one()
        assert count == 0
        assert str(activity).startswith("2026-01-02 03:04:05")
        await asyncio.to_thread(command.downgrade, config, "0001")
        async with engine.connect() as conn:
            assert (await conn.execute(text("SELECT title FROM cases"))).scalar_one() == "Old"
    finally:
        await engine.dispose()


@pytest.mark.parametrize("backend", ["postgresql"])
@pytest.mark.postgres_only
async def test_the_search_indexes_take_new_entries_directly_until_downgrade(fresh_url: str) -> None:
    """No GIN pending list for searches to read through (migration 0012). PostgreSQL only."""
    import asyncio

    from sqlalchemy import text

    config = alembic_config(make_settings(fresh_url))
    read = text(
        "SELECT relname, reloptions FROM pg_class "
        "WHERE relname IN ('ix_cases_user_search', 'ix_case_messages_search_vector')"
    )

    async def options() -> dict[str, list[str]]:
        engine = create_async_engine(fresh_url)
        try:
            async with engine.connect() as conn:
                return {name: found or [] for name, found in (await conn.execute(read)).all()}
        finally:
            await engine.dispose()

    await asyncio.to_thread(command.upgrade, config, "head")
    assert await options() == {
        "ix_cases_user_search": ["fastupdate=off"],
        "ix_case_messages_search_vector": ["fastupdate=off"],
    }

    await asyncio.to_thread(command.downgrade, config, "0011")
    assert await options() == {"ix_cases_user_search": [], "ix_case_messages_search_vector": []}


@pytest.mark.parametrize("backend", ["postgresql"])
@pytest.mark.postgres_only
async def test_the_outbox_table_gets_its_own_autovacuum_thresholds_and_loses_them_on_downgrade(fresh_url: str) -> None:
    """A queue table churns: one dead row version per event. PostgreSQL only (SQLite has no vacuum
    thresholds)."""
    import asyncio

    from sqlalchemy import text

    config = alembic_config(make_settings(fresh_url))
    read = text("SELECT reloptions FROM pg_class WHERE relname = 'event_outbox'")

    async def options() -> dict[str, str]:
        engine = create_async_engine(fresh_url)
        try:
            async with engine.connect() as conn:
                found = (await conn.execute(read)).scalar_one() or []
        finally:
            await engine.dispose()
        return dict(option.split("=", 1) for option in found)

    await asyncio.to_thread(command.upgrade, config, "head")
    upkeep = await options()
    assert upkeep["autovacuum_vacuum_scale_factor"] == "0"
    assert int(upkeep["autovacuum_vacuum_threshold"]) <= 5000
    assert upkeep["autovacuum_vacuum_cost_delay"] == "0"

    await asyncio.to_thread(command.downgrade, config, "0007")
    assert await options() == {}


@pytest.mark.parametrize("backend", ["postgresql"])
@pytest.mark.postgres_only
async def test_an_outbox_insert_notifies_the_relays_at_commit_until_downgrade(fresh_url: str) -> None:
    """The relays' cross-process wake-up comes from the table's trigger, not from the writers.
    PostgreSQL only (SQLite has no NOTIFY)."""
    import asyncio
    import uuid

    import asyncpg

    from case_service.adapters.outbox import NOTIFY_CHANNEL

    config = alembic_config(make_settings(fresh_url))
    dsn = fresh_url.replace("postgresql+asyncpg://", "postgresql://", 1)
    insert = (
        "INSERT INTO event_outbox (event_id, event_type, aggregate_type, aggregate_id, aggregate_version,"
        " envelope, headers, created_at) VALUES ($1, 'case.created', 'case', $1, 1, '{}', '{}', now())"
    )
    heard: asyncio.Queue[str] = asyncio.Queue()

    async def notifications_of(write: Callable[[asyncpg.Connection], object]) -> int:
        """How many notifications a listener gets for `write`, once it has had time to get one."""
        listener, writer = await asyncpg.connect(dsn), await asyncpg.connect(dsn)
        try:
            await listener.add_listener(NOTIFY_CHANNEL, lambda *_: heard.put_nowait("notified"))
            await write(writer)  # type: ignore[misc]
            # A round trip on the listener after the writer's commit: any notification is in by then.
            await listener.execute("SELECT 1")
            count = heard.qsize()
            while not heard.empty():
                heard.get_nowait()
            return count
        finally:
            await listener.close()
            await writer.close()

    async def commit_two(conn: asyncpg.Connection) -> None:
        async with conn.transaction():
            await conn.execute(insert, uuid.uuid4().hex)
            await conn.execute(insert, uuid.uuid4().hex)

    async def roll_back(conn: asyncpg.Connection) -> None:
        transaction = conn.transaction()
        await transaction.start()
        await conn.execute(insert, uuid.uuid4().hex)
        await transaction.rollback()

    await asyncio.to_thread(command.upgrade, config, "head")
    assert await notifications_of(commit_two) == 1  # one per transaction, however many rows
    assert await notifications_of(roll_back) == 0

    await asyncio.to_thread(command.downgrade, config, "0008")
    assert await notifications_of(commit_two) == 0
