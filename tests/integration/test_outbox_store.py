"""How the relay's store chooses the next events: oldest head first, breadth first, held-back cases
skipped, each case's run an unbroken prefix. On SQLite and PostgreSQL."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from fastapi import FastAPI
from sqlalchemy import insert, update

from case_service.adapters.database import Database
from case_service.adapters.outbox_store import OutboxStore
from case_service.adapters.tables import event_outbox

NOW = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)


async def _write(database: Database, *events: tuple[str, int]) -> None:
    """Pending outbox rows, in the order given (ids grow in that order)."""
    rows = [
        {
            "event_id": f"{case}-{version}",
            "event_type": "case.updated",
            "aggregate_type": "case",
            "aggregate_id": case,
            "aggregate_version": version,
            "envelope": {"event_id": f"{case}-{version}"},
            "headers": {},
            "created_at": NOW,
        }
        for case, version in events
    ]
    async with database.connection(write=True) as conn:
        for row in rows:
            await conn.execute(insert(event_outbox).values(**row))
        await conn.commit()


async def _set(database: Database, case: str, version: int, **values: object) -> None:
    async with database.connection(write=True) as conn:
        await conn.execute(
            update(event_outbox)
            .where(event_outbox.c.aggregate_id == case, event_outbox.c.aggregate_version == version)
            .values(**values)
        )
        await conn.commit()


async def _due(database: Database, now: datetime = NOW, *, max_events: int, per_case: int) -> list[str]:
    rows = await OutboxStore(database).fetch_due(now, max_events=max_events, per_case=per_case)
    return sorted(row.event_id for row in rows)


async def test_heads_first_then_second_events_and_no_case_beyond_its_share(app: FastAPI) -> None:
    database = app.state.database
    await _write(database, *[("a", v) for v in range(1, 6)], ("b", 1), ("b", 2), ("c", 1))

    assert await _due(database, max_events=4, per_case=3) == ["a-1", "a-2", "b-1", "c-1"]
    assert await _due(database, max_events=100, per_case=3) == ["a-1", "a-2", "a-3", "b-1", "b-2", "c-1"]


async def test_a_case_whose_head_waits_for_its_retry_is_held_back_whole(app: FastAPI) -> None:
    database = app.state.database
    await _write(database, ("a", 1), ("a", 2), ("b", 1))
    await _set(database, "a", 1, attempts=1, next_attempt_at=NOW + timedelta(seconds=30))

    assert await _due(database, max_events=10, per_case=10) == ["b-1"]
    assert await _due(database, NOW + timedelta(seconds=31), max_events=10, per_case=10) == ["a-1", "a-2", "b-1"]


async def test_held_back_events_filling_whole_pages_do_not_starve_the_cases_after_them(app: FastAPI) -> None:
    """The pending rows are read a batch at a time: a failing case with a long tail fills the first
    pages, and the cases written after it are still found."""
    database = app.state.database
    await _write(database, *[("a", v) for v in range(1, 8)], ("b", 1), ("c", 1), ("c", 2))
    await _set(database, "a", 1, attempts=3, next_attempt_at=NOW + timedelta(minutes=5))

    assert await _due(database, max_events=2, per_case=5) == ["b-1", "c-1"]


async def test_after_a_case_head_is_published_its_next_version_is_the_head(app: FastAPI) -> None:
    database = app.state.database
    await _write(database, ("a", 1), ("a", 2), ("a", 3))
    await _set(database, "a", 1, published_at=NOW)
    await _set(database, "a", 2, attempts=1, next_attempt_at=NOW + timedelta(seconds=5))

    assert await _due(database, max_events=10, per_case=10) == []
    assert await _due(database, NOW + timedelta(seconds=6), max_events=10, per_case=10) == ["a-2", "a-3"]


async def test_rows_being_marked_are_left_out_and_the_next_event_of_their_case_is_its_head(app: FastAPI) -> None:
    """The relay writes a cycle's marks while the next cycle reads: it names those rows in `skip`."""
    database = app.state.database
    await _write(database, ("a", 1), ("a", 2), ("a", 3), ("b", 1))
    ids = {row.event_id: row.id for row in await OutboxStore(database).fetch_due(NOW, max_events=10, per_case=10)}
    store = OutboxStore(database)

    rows = await store.fetch_due(NOW, max_events=1, per_case=1, skip=[ids["a-1"], ids["a-2"]])
    assert [row.event_id for row in rows] == ["a-3"]
    rows = await store.fetch_due(NOW, max_events=10, per_case=10, skip=[ids["a-1"], ids["b-1"]])
    assert sorted(row.event_id for row in rows) == ["a-2", "a-3"]


async def test_rows_carry_their_envelope_whether_read_on_the_first_page_or_a_later_one(app: FastAPI) -> None:
    """The first page is read whole; the rows chosen from later pages are read afterwards."""
    database = app.state.database
    await _write(database, ("a", 1), ("a", 2), ("b", 1), ("c", 1))
    await _set(database, "b", 1, attempts=2, headers={"ce-id": "b-1"})

    rows = await OutboxStore(database).fetch_due(NOW, max_events=2, per_case=1)
    assert [(row.event_id, row.aggregate_version, row.attempts, row.headers) for row in rows] == [
        ("a-1", 1, 0, {}),
        ("b-1", 1, 2, {"ce-id": "b-1"}),
    ]
    assert all(json.loads(row.body) == {"event_id": row.event_id} for row in rows)
