"""A change's writes in one statement, on PostgreSQL: the history row and the outbox row of its one
event and, for a creation, the case with its tags and the count of its creation.

Each statement is a round trip, and through SQLAlchemy and asyncpg it costs more CPU than the
insert it carries (bench/PROFILE.md §14). PostgreSQL runs the data-modifying parts of one statement
together and checks foreign keys at its end, so the tags may name the case inserted beside them.
When nothing of the unit of work has reached the server yet, as for a titled creation without an
Idempotency-Key, the statement is the whole change and commits on its own: no BEGIN, no COMMIT.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

from sqlalchemy import Table, bindparam, func, insert, select
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql import Insert

from case_service.adapters.repository import PendingCreation, case_columns
from case_service.adapters.tables import case_history, case_tags, case_title_counters, cases, event_outbox


async def write_change_and_commit(
    conn: AsyncConnection,
    creation: PendingCreation | None,
    outbox_row: Mapping[str, Any],
    history_row: Mapping[str, Any],
) -> None:
    """Write the rows (and the creation) in one statement, then commit the transaction."""
    params = _prefixed("event_", outbox_row) | _prefixed("history_", history_row)
    case_keys: tuple[str, ...] = ()
    if creation is not None:
        case = creation.case
        case_row = {**case_columns(case), "case_id": case.case_id}
        case_keys = tuple(case_row)
        params |= _prefixed("case_", case_row) | {"tags": list(case.tags), "counted_day": creation.counted_day}
    counts_creation = creation is not None and creation.counted_day is not None
    stmt = _statement(tuple(outbox_row), tuple(history_row), case_keys, counts_creation)
    raw = await conn.get_raw_connection()
    if not raw.driver_connection.is_in_transaction():
        # SQLAlchemy begins on the server at the first statement: none has run, so ending its
        # transaction sends nothing, and this statement, alone, commits as it completes.
        await conn.rollback()
        await conn.execution_options(isolation_level="AUTOCOMMIT")
    await conn.execute(stmt, params)
    await conn.commit()


def _prefixed(prefix: str, row: Mapping[str, Any]) -> dict[str, Any]:
    return {prefix + key: value for key, value in row.items()}


def _values(table: Table, prefix: str, keys: tuple[str, ...]) -> Insert:
    return insert(table).values({key: bindparam(prefix + key, type_=table.c[key].type) for key in keys})


@functools.cache
def _statement(
    outbox_keys: tuple[str, ...], history_keys: tuple[str, ...], case_keys: tuple[str, ...], counts_creation: bool
) -> Insert:
    """Built once per shape of its rows; SQLAlchemy caches its compiled form by that shape too."""
    parts = []
    if case_keys:
        parts.append(_values(cases, "case_", case_keys).cte("new_case"))
        new_tags = select(
            bindparam("case_case_id"),
            func.unnest(bindparam("tags", type_=postgresql.ARRAY(case_tags.c.tag.type))),
            bindparam("case_user_id"),
        )
        parts.append(insert(case_tags).from_select(["case_id", "tag", "user_id"], new_tags).cte("new_tags"))
    if counts_creation:
        counters = case_title_counters
        parts.append(
            postgresql.insert(counters)
            .values(user_id=bindparam("case_user_id"), day=bindparam("counted_day"), last_number=1)
            .on_conflict_do_update(
                index_elements=[counters.c.user_id, counters.c.day], set_={"last_number": counters.c.last_number + 1}
            )
            .cte("counted")
        )
    parts.append(_values(case_history, "history_", history_keys).cte("history_row"))
    # The outbox row last, as the statement itself: its insert trigger NOTIFYs the relays.
    return _values(event_outbox, "event_", outbox_keys).add_cte(*parts)
