"""A change's writes in one statement, on PostgreSQL: the history row and the outbox row of its one
event, with what the case repository held for the commit (`PendingWrites`): a new case with its
tags and the count of its creation, or the case's update, its status move or its new message.

Each statement is a round trip, and through SQLAlchemy and asyncpg it costs more CPU than the
row it carries (bench/PROFILE.md §14). PostgreSQL runs the data-modifying parts of one statement
together and checks foreign keys at its end, so the tags may name the case inserted beside them.
When nothing of the unit of work has reached the server yet, as for a titled creation without an
Idempotency-Key, the statement is the whole change and commits on its own: no BEGIN, no COMMIT.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Table, bindparam, func, insert, select
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql import Insert

from case_service.adapters.repository import UPDATE_CASE, PendingWrites, changed_meanwhile, insert_values
from case_service.adapters.tables import (
    case_history,
    case_messages,
    case_status_transitions,
    case_tags,
    case_title_counters,
    cases,
    event_outbox,
)


async def write_change_and_commit(
    conn: AsyncConnection, pending: PendingWrites, outbox_row: Mapping[str, Any], history_row: Mapping[str, Any]
) -> None:
    """Write the rows and the pending writes in one statement, then commit the transaction.
    Raises ConcurrentModification, committing nothing, when the updated case is no longer at the
    version it was read at."""
    params = _prefixed("event_", outbox_row) | _prefixed("history_", history_row)
    created: tuple[str, ...] = ()
    if pending.created is not None:
        case_row = insert_values(pending.created)
        created = tuple(case_row)
        params |= _prefixed("case_", case_row)
        params |= {"tags": list(pending.created.tags), "counted_day": pending.counted_day}
    # The update's values keep their names: UPDATE_CASE's own, which no other part uses.
    params |= pending.update or {}
    params |= _prefixed("transition_", pending.transition or {}) | _prefixed("message_", pending.message or {})
    stmt = _statement(
        _Shape(
            outbox=tuple(outbox_row),
            history=tuple(history_row),
            created=created,
            counts_creation=pending.created is not None and pending.counted_day is not None,
            updated=tuple(pending.update or ()),
            transition=tuple(pending.transition or ()),
            message=tuple(pending.message or ()),
        )
    )
    raw = await conn.get_raw_connection()
    if pending.update is None and not raw.driver_connection.is_in_transaction():
        # SQLAlchemy begins on the server at the first statement: none has run, so ending its
        # transaction sends nothing, and this statement, alone, commits as it completes. Never
        # with an update: if its version check failed, the rows beside it would stay committed.
        await conn.rollback()
        await conn.execution_options(isolation_level="AUTOCOMMIT")
    result = await conn.execute(stmt, params)
    if pending.update is not None and result.scalar_one() != 1:
        raise changed_meanwhile(pending.update["key_case_id"])
    await conn.commit()


def _prefixed(prefix: str, row: Mapping[str, Any]) -> dict[str, Any]:
    return {prefix + key: value for key, value in row.items()}


def _values(table: Table, prefix: str, keys: tuple[str, ...]) -> Insert:
    return insert(table).values({key: bindparam(prefix + key, type_=table.c[key].type) for key in keys})


@functools.cache
def _statement(shape: _Shape) -> Insert:
    """Built once per shape of its rows; SQLAlchemy caches its compiled form by that shape too."""
    parts = []
    if shape.created:
        parts.append(_values(cases, "case_", shape.created).cte("new_case"))
        new_tags = select(
            bindparam("case_case_id"),
            func.unnest(bindparam("tags", type_=postgresql.ARRAY(case_tags.c.tag.type))),
            bindparam("case_user_id"),
        )
        parts.append(insert(case_tags).from_select(["case_id", "tag", "user_id"], new_tags).cte("new_tags"))
    if shape.counts_creation:
        counters = case_title_counters
        parts.append(
            postgresql.insert(counters)
            .values(user_id=bindparam("case_user_id"), day=bindparam("counted_day"), last_number=1)
            .on_conflict_do_update(
                index_elements=[counters.c.user_id, counters.c.day], set_={"last_number": counters.c.last_number + 1}
            )
            .cte("counted")
        )
    updated_case = None
    if shape.updated:
        columns = {key: bindparam(key, type_=cases.c[key].type) for key in shape.updated if key in cases.c}
        updated_case = UPDATE_CASE.values(columns).returning(cases.c.case_id).cte("updated_case")
        parts.append(updated_case)
    if shape.transition:
        parts.append(_values(case_status_transitions, "transition_", shape.transition).cte("new_transition"))
    if shape.message:
        parts.append(_values(case_messages, "message_", shape.message).cte("new_message"))
    parts.append(_values(case_history, "history_", shape.history).cte("history_row"))
    # The outbox row last, as the statement itself: its insert trigger NOTIFYs the relays.
    stmt = _values(event_outbox, "event_", shape.outbox).add_cte(*parts)
    if updated_case is not None:
        # How many rows the update matched: 0 when the case moved past the version it was read at.
        stmt = stmt.returning(select(func.count()).select_from(updated_case).scalar_subquery())
    return stmt


@dataclass(frozen=True)
class _Shape:
    """The column names of each part of the statement (empty: the part is absent)."""

    outbox: tuple[str, ...]
    history: tuple[str, ...]
    created: tuple[str, ...]
    counts_creation: bool
    updated: tuple[str, ...]
    transition: tuple[str, ...]
    message: tuple[str, ...]
