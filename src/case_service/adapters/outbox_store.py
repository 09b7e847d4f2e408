"""Reading and marking the transactional outbox: the relay's queries, the purge and the stats.

Pending rows are found by `published_at IS NULL`, never by "ids above the last one seen": ids are
handed out when a row is inserted, and a transaction that inserted early may commit late.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import BigInteger, ColumnElement, Select, Text, any_, bindparam, cast, delete, func, select, update
from sqlalchemy.dialects import postgresql
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncConnection

from case_service.adapters.database import Database, read_through_driver
from case_service.adapters.tables import event_outbox as outbox

_pending = outbox.c.published_at.is_(None)


class OutboxRow(NamedTuple):
    """A pending event as the relay reads it. A tuple: thousands are built per cycle in a drain."""

    id: int
    event_id: str
    event_type: str
    aggregate_id: str
    aggregate_version: int
    # The envelope as the JSON text stored: sent as it is, never decoded and encoded again.
    body: str
    headers: dict[str, str]
    attempts: int


_ROW_FIELDS = OutboxRow._fields


class _Pending(NamedTuple):
    id: int
    aggregate_id: str
    next_attempt_at: datetime | None


# The columns in OutboxRow's field order, so a row builds one positionally.
_ROW_COLUMNS = tuple(
    cast(outbox.c.envelope, Text).label("body") if name == "body" else outbox.c[name] for name in _ROW_FIELDS
)


class _Pages(NamedTuple):
    """The reads of the pending rows in id order, leaving out the ids bound as `skip`."""

    # The first page, whole rows: when everything pending fits in it, as it does outside a backlog,
    # the batch needs no second statement.
    first: Select[Any]
    later: Select[Any]


def _pages(not_skipped: ColumnElement[bool]) -> _Pages:
    return _Pages(
        first=select(*_ROW_COLUMNS, outbox.c.next_attempt_at)
        .where(_pending, not_skipped)
        .order_by(outbox.c.id)
        .limit(bindparam("size")),
        later=select(outbox.c.id, outbox.c.aggregate_id, outbox.c.next_attempt_at)
        .where(_pending, not_skipped, outbox.c.id > bindparam("after"))
        .order_by(outbox.c.id)
        .limit(bindparam("size")),
    )


# PostgreSQL: one prepared statement whatever the number of ids skipped (a hashed subplan over the
# array). Elsewhere an expanding IN, whose text changes with the number of ids.
_PAGES_PG = _pages(outbox.c.id.not_in(select(func.unnest(bindparam("skip", type_=ARRAY(BigInteger))))))
_PAGES_ANY = _pages(outbox.c.id.not_in(bindparam("skip", expanding=True)))
# The first page as asyncpg takes it ($1 skip, $2 size): read by the driver itself, since for a
# page of thousands of rows SQLAlchemy's result handling cost four times the driver's.
_FIRST_PAGE_BY_DRIVER = str(_PAGES_PG.first.compile(dialect=postgresql.asyncpg.dialect()))
_ENVELOPES = select(*_ROW_COLUMNS).where(outbox.c.id.in_(bindparam("ids", expanding=True)))
_PUBLISHED_VALUES = {"published_at": bindparam("now"), "attempts": outbox.c.attempts + 1, "next_attempt_at": None}
# PostgreSQL: one statement, its own transaction, and one prepared statement whatever the number
# of ids. Losing these marks in a crash only sends their events again (consumers drop repeats by
# event_id), so the commit does not wait for the WAL flush: under write load that wait was the
# longest step of a cycle. set_config(..., true) holds until the end of the statement's transaction.
_MARK_PUBLISHED_PG = (
    update(outbox)
    .where(
        outbox.c.id == any_(bindparam("ids", type_=ARRAY(BigInteger))),
        select(func.set_config("synchronous_commit", "off", True)).scalar_subquery().is_not(None),
    )
    .values(_PUBLISHED_VALUES)
)
_MARK_PUBLISHED_ANY = (
    update(outbox).where(outbox.c.id.in_(bindparam("ids", expanding=True))).values(_PUBLISHED_VALUES)
)
_MARK_FAILED = (
    update(outbox)
    .where(outbox.c.id == bindparam("row_id"))
    .values(attempts=bindparam("attempts"), last_error=bindparam("error"), next_attempt_at=bindparam("next_attempt_at"))
)


@dataclass(frozen=True)
class PublishFailure:
    row_id: int
    attempts: int
    error: str
    next_attempt_at: datetime


@dataclass(frozen=True)
class PendingSummary:
    pending: int
    oldest_pending_age_seconds: float | None
    # Pending events whose publication failed at least once (waiting for their retry).
    failing: int


@dataclass(frozen=True)
class OutboxStats(PendingSummary):
    # Published rows still kept (OUTBOX_RETENTION_SECONDS), not all ever published.
    published: int
    last_error: dict[str, Any] | None


class OutboxStore:
    def __init__(self, database: Database) -> None:
        self._database = database

    async def fetch_due(
        self, now: datetime, *, max_events: int, per_case: int, skip: Collection[int] = ()
    ) -> list[OutboxRow]:
        """The next events to publish, in no particular order (the relay orders each case's).

        `skip`: rows already published whose marks have not committed yet. They are left out as if
        marked, so the next event of their case is its head.

        Cases are taken oldest head first. A case is taken only when its head (its lowest pending
        version) is due: a head waiting for its retry holds back the rest of its case. Up to
        `per_case` consecutive events of each case are returned, `max_events` in all, breadth
        first: every chosen case's head, then every second event, ... so a cut leaves each case with
        an unbroken prefix and a long case cannot crowd out the others.

        The pending rows are read in id order, a page at a time, until a batch is found, and the
        choice is made here rather than in one SQL statement: each read is a single-table range
        scan whose worst plan is a sort, whatever the planner believes about the table. (A joined
        query, planned on statistics taken while nothing was pending, ran into the statement
        timeout on a 100,000-event backlog.) Within a case, ids grow with versions: a version is
        written only after the previous one committed, and `write_events` inserts in version order.
        So a case's first row in id order is its head, and its rows that follow are its next ones.
        The first page is read with its rows' envelopes; rows chosen from later pages are read
        afterwards by id.
        """
        runs: dict[str, list[_Pending]] = {}
        held_back: set[str] = set()
        in_hand: dict[int, OutboxRow] = {}
        found = 0
        after: int | None = None
        skipped = list(skip)
        while found < max_events:
            async with self._database.connection(write=False) as conn:
                on_postgres = conn.dialect.name == "postgresql"
                pages = _PAGES_PG if on_postgres else _PAGES_ANY
                if after is None:
                    if on_postgres:
                        rows = await read_through_driver(
                            conn, lambda driver: driver.fetch(_FIRST_PAGE_BY_DRIVER, skipped, max_events)
                        )
                    else:
                        rows = (await conn.execute(pages.first, {"size": max_events, "skip": skipped})).all()
                    page: list[_Pending] = []
                    for row in rows:  # OutboxRow's columns, then next_attempt_at
                        event = OutboxRow(*row[:-1])
                        in_hand[event.id] = event
                        page.append(_Pending(event.id, event.aggregate_id, row[-1]))
                else:
                    parameters = {"after": after, "size": max_events, "skip": skipped}
                    page = [_Pending(*row) for row in (await conn.execute(pages.later, parameters)).all()]
            for row in page:
                case = row.aggregate_id
                if case in held_back:
                    continue
                run = runs.get(case)
                if run is None:
                    if row.next_attempt_at is not None and row.next_attempt_at > now:
                        held_back.add(case)
                        continue
                    runs[case] = [row]
                    found += 1
                elif len(run) < per_case:
                    run.append(row)
                    found += 1
            if len(page) < max_events:
                break
            after = page[-1].id
        chosen = [
            run[depth].id
            for depth in range(min(per_case, max((len(run) for run in runs.values()), default=0)))
            for run in runs.values()
            if depth < len(run)
        ][:max_events]
        missing = [row_id for row_id in chosen if row_id not in in_hand]
        if missing:
            async with self._database.connection(write=False) as conn:
                in_hand.update((row.id, OutboxRow(*row)) for row in await conn.execute(_ENVELOPES, {"ids": missing}))
        return [in_hand[row_id] for row_id in chosen]

    async def settle(self, published: Sequence[int], failures: Sequence[PublishFailure], now: datetime) -> None:
        """Record one cycle's outcome: the published rows in one UPDATE, then the failures.

        On PostgreSQL each runs as a transaction of its own statement, without BEGIN and COMMIT:
        the marks are independent, and a crash between the two only sends the published events
        again or retries the failed ones one attempt early."""
        if published:
            async with self._database.connection(write=True, single_statement=True) as conn:
                mark = _MARK_PUBLISHED_PG if conn.dialect.name == "postgresql" else _MARK_PUBLISHED_ANY
                await conn.execute(mark, {"ids": list(published), "now": now})
                await conn.commit()
        if failures:
            async with self._database.connection(write=True, single_statement=True) as conn:
                await conn.execute(
                    _MARK_FAILED,
                    [
                        {
                            "row_id": failure.row_id,
                            "attempts": failure.attempts,
                            "error": failure.error,
                            "next_attempt_at": failure.next_attempt_at,
                        }
                        for failure in failures
                    ],
                )
                await conn.commit()

    async def next_retry_at(self) -> datetime | None:
        """When the earliest held-back event becomes due again (None when none waits)."""
        async with self._database.connection(write=False) as conn:
            return (await conn.execute(select(func.min(outbox.c.next_attempt_at)).where(_pending))).scalar_one()

    async def purge_published(self, older_than: datetime, batch_size: int) -> int:
        """Delete published rows older than `older_than`, `batch_size` per transaction. Pending
        rows are never touched. Returns how many were deleted."""
        deleted = 0
        while True:
            batch = (
                select(outbox.c.id)
                .where(outbox.c.published_at.is_not(None), outbox.c.published_at < older_than)
                .limit(batch_size)
            )
            async with self._database.connection(write=True) as conn:
                result = await conn.execute(delete(outbox).where(outbox.c.id.in_(batch.scalar_subquery())))
                await conn.commit()
            deleted += result.rowcount or 0
            if (result.rowcount or 0) < batch_size:
                return deleted

    async def pending_summary(self, now: datetime) -> PendingSummary:
        """Cheap (the pending rows only): for gauges and readiness."""
        async with self._database.connection(write=False) as conn:
            return await _pending_summary(conn, now)

    async def stats(self, now: datetime) -> OutboxStats:
        async with self._database.connection(write=False, snapshot=True) as conn:
            summary = await _pending_summary(conn, now)
            published = (
                await conn.execute(select(func.count()).where(outbox.c.published_at.is_not(None)))
            ).scalar_one()
            last = (
                await conn.execute(
                    select(
                        outbox.c.event_id,
                        outbox.c.aggregate_id,
                        outbox.c.attempts,
                        outbox.c.last_error,
                        outbox.c.next_attempt_at,
                    )
                    .where(_pending, outbox.c.last_error.is_not(None))
                    .order_by(outbox.c.next_attempt_at.desc())
                    .limit(1)
                )
            ).first()
        return OutboxStats(
            pending=summary.pending,
            oldest_pending_age_seconds=summary.oldest_pending_age_seconds,
            failing=summary.failing,
            published=int(published),
            last_error=None
            if last is None
            else {
                "event_id": last.event_id,
                "aggregate_id": last.aggregate_id,
                "attempts": last.attempts,
                "error": last.last_error,
                "next_attempt_at": last.next_attempt_at.isoformat() if last.next_attempt_at else None,
            },
        )


async def _pending_summary(conn: AsyncConnection, now: datetime) -> PendingSummary:
    pending, oldest, failing = (
        await conn.execute(
            select(func.count(), func.min(outbox.c.created_at), func.count().filter(outbox.c.attempts > 0)).where(
                _pending
            )
        )
    ).one()
    return PendingSummary(
        pending=int(pending),
        oldest_pending_age_seconds=max(0.0, (now - oldest).total_seconds()) if oldest is not None else None,
        failing=int(failing),
    )
