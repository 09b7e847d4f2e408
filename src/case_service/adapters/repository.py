"""The case repository: the only place that turns cases into SQL and rows back into cases."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam, delete, func, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.dialects.postgresql import aggregate_order_by
from sqlalchemy.engine import Result, Row
from sqlalchemy.sql import Executable

from case_service.adapters.database import LazyConnection
from case_service.adapters.tables import (
    case_history,
    case_messages,
    case_status_transitions,
    case_tags,
    case_title_counters,
    cases,
)
from case_service.domain.case import Case, CaseStatus, Category, Severity, StatusTransition
from case_service.domain.errors import ConcurrentModification
from case_service.domain.messages import Message, MessageRole
from case_service.domain.queries import (
    ContextBounds,
    HistoryEntry,
    HistoryPage,
    MessagePage,
    RecordedTransition,
    TagCount,
)


class CaseRepository:
    """Reads and writes cases on one connection; never commits (the unit of work does).

    Every case it adds, saves or removes is kept in `seen`, so the unit of work can collect the
    events those cases recorded and write them to the outbox in the same transaction.
    """

    def __init__(self, conn: LazyConnection) -> None:
        self._conn = conn
        self._loaded_tags: dict[str, list[str]] = {}
        self.seen: list[Case] = []
        # PostgreSQL: a case's writes wait for the commit, which writes them with their event in
        # one statement (adapters/change_statement.py); at most one of each kind waits.
        self._defers_writes = conn.dialect.name == "postgresql"
        self.pending = PendingWrites()

    async def add(self, case: Case, *, counted_day: str | None = None) -> None:
        """Insert a new case with its tags. `counted_day`: also count the creation in the owner's
        title numbers of that UTC day, for a case that did not take a number to name itself.

        On PostgreSQL the insert waits for the unit of work's commit (`pending`), or for the
        repository's next statement.
        """
        self._loaded_tags[case.case_id] = list(case.tags)
        self.seen.append(case)
        if self._defers_writes and self.pending.created is None:
            self.pending.created, self.pending.counted_day = case, counted_day
        else:
            await self._write_creation(case, counted_day)

    async def _execute(self, statement: Executable, parameters: Any = None) -> Result[Any]:
        """Every statement of the repository: the writes waiting for the commit go first, so
        statements meet the table in the order they were made, and a read finds what was written."""
        if not self.pending.is_empty():
            await self.write_pending()
        return await self._conn.execute(statement, parameters)

    async def write_pending(self) -> None:
        """The waiting writes, one statement each (a commit that cannot take them into one)."""
        pending = self.take_pending()
        if pending.created is not None:
            await self._write_creation(pending.created, pending.counted_day)
        if pending.update is not None:
            await self._update(pending.update)
        if pending.transition is not None:
            await self._execute(_INSERT_TRANSITION, pending.transition)
        if pending.message is not None:
            await self._execute(_INSERT_MESSAGE, pending.message)

    async def _write_creation(self, case: Case, counted_day: str | None) -> None:
        if counted_day is not None:
            await self.next_title_number(case.user_id, counted_day)
        await self._execute(_INSERT_CASE, insert_values(case))
        await self._insert_tags(case, case.tags)

    async def get(self, case_id: str, user_id: str, *, for_update: bool = False) -> Case | None:
        """The user's case, or None. `for_update` locks the row until the transaction ends.

        On PostgreSQL the case and its tags come back in one statement (one round trip, one
        snapshot); SQLite, in process, reads the tags with a second query.
        """
        keys = {"case_id": case_id, "user_id": user_id}
        row: Mapping[str, Any] | None
        if self._conn.dialect.name == "postgresql":
            if for_update or self._conn.in_transaction():
                stmt = _CASE_WITH_TAGS_FOR_UPDATE if for_update else _CASE_WITH_TAGS
                found = (await self._execute(stmt, keys)).one_or_none()
                row = None if found is None else found._mapping
            else:
                row = await self._read_through_driver(case_id, user_id)
            if row is None:
                return None
            tags = list(row["tags"] or ())
        else:
            found = (await self._execute(_CASE_FOR_UPDATE if for_update else _CASE, keys)).one_or_none()
            if found is None:
                return None
            row = found._mapping
            tags = (await tags_of(self._conn, [case_id]))[case_id]
        self._loaded_tags[case_id] = list(tags)
        return case_from_row(row, tags)

    async def _read_through_driver(self, case_id: str, user_id: str) -> Mapping[str, Any] | None:
        """The case row, read by asyncpg itself: the hottest read skips SQLAlchemy's execution
        layer. An asyncpg Record is a mapping of the row's columns."""
        record: Mapping[str, Any] | None = await self._conn.read_by_driver(
            lambda driver: driver.fetchrow(_CASE_WITH_TAGS_BY_DRIVER, case_id, user_id)
        )
        return record

    async def save(self, case: Case, expected_version: int) -> None:
        """Write the case back; fail if anyone changed it since it was read at `expected_version`.

        On PostgreSQL a save that changes no tags waits for the commit (`pending`), which fails the
        same way.
        """
        self.seen.append(case)
        old_tags = self._loaded_tags.get(case.case_id, [])
        values = _update_values(case, expected_version)  # as the case is now, not at the commit
        if self._defers_writes and old_tags == case.tags and self.pending.update is None:
            self.pending.update = values
            return
        await self._update(values)
        if old_tags != case.tags:
            removed = [tag for tag in old_tags if tag not in case.tags]
            if removed:
                await self._execute(
                    delete(case_tags).where(case_tags.c.case_id == case.case_id, case_tags.c.tag.in_(removed))
                )
            await self._insert_tags(case, [tag for tag in case.tags if tag not in old_tags])
            self._loaded_tags[case.case_id] = list(case.tags)

    def take_pending(self) -> PendingWrites:
        """The waiting writes, handed to the commit that writes them."""
        pending, self.pending = self.pending, PendingWrites()
        return pending

    async def _update(self, values: dict[str, Any]) -> None:
        result = await self._execute(UPDATE_CASE, values)
        if result.rowcount != 1:
            raise changed_meanwhile(values["key_case_id"])

    async def remove(self, case: Case) -> None:
        """Delete the case; its tags, transitions and messages go with it (ON DELETE CASCADE).

        Its history goes too; the unit of work then writes the deletion's own history row, which
        stays as the tombstone: who deleted the case, when, under which correlation id.
        """
        await self._execute(delete(cases).where(cases.c.case_id == case.case_id))
        await self._execute(delete(case_history).where(case_history.c.case_id == case.case_id))
        self.seen.append(case)

    async def add_message(self, message: Message) -> None:
        """Store a message the case appended; the unique (case_id, sequence) backs the row lock.
        On PostgreSQL it waits for the commit (`pending`)."""
        row = {
            "message_id": message.message_id,
            "case_id": message.case_id,
            "sequence": message.sequence,
            "role": message.role.value,
            "content": message.content,
            "metadata": message.metadata,
            "created_at": message.created_at,
        }
        if self._defers_writes and self.pending.message is None:
            self.pending.message = row
        else:
            await self._execute(_INSERT_MESSAGE, row)

    async def messages_of(self, case_id: str, *, after: int, limit: int, offset: int) -> MessagePage:
        """Messages with a sequence above `after`, in conversation order; `total` counts them all."""
        where = (case_messages.c.case_id == case_id, case_messages.c.sequence > after)
        total = (await self._execute(select(func.count()).select_from(case_messages).where(*where))).scalar_one()
        rows = await self._execute(
            select(case_messages).where(*where).order_by(case_messages.c.sequence).limit(limit).offset(offset)
        )
        return MessagePage(messages=[_to_message(row) for row in rows], total=int(total))

    async def newest_messages(self, case: Case, bounds: ContextBounds) -> list[Message]:
        """The newest messages that fit both bounds, oldest first, in ONE query.

        Walking from the newest message back, a message is kept while the count stays within
        `max_messages` and the running sum of content lengths within `max_chars`; the first that
        does not fit ends the window (no older message is skipped into it: the kept messages are
        always the unbroken end of the conversation). Only sequences up to the case's
        `message_count` are read, so the window matches the case row read before it.
        """
        newest_first = case_messages.c.sequence.desc()
        ranked = (
            select(
                case_messages,
                func.row_number().over(order_by=newest_first).label("rank"),
                func.sum(func.length(case_messages.c.content)).over(order_by=newest_first).label("running_chars"),
            )
            .where(case_messages.c.case_id == case.case_id, case_messages.c.sequence <= case.message_count)
            .subquery()
        )
        rows = await self._execute(
            select(ranked)
            .where(ranked.c.rank <= bounds.max_messages, ranked.c.running_chars <= bounds.max_chars)
            .order_by(ranked.c.sequence)
        )
        return [_to_message(row) for row in rows]

    async def history_of(self, case_id: str, *, limit: int, offset: int) -> HistoryPage:
        """The case's audit trail, newest first."""
        where = case_history.c.case_id == case_id
        total = (await self._execute(select(func.count()).select_from(case_history).where(where))).scalar_one()
        rows = await self._execute(
            select(case_history).where(where).order_by(case_history.c.id.desc()).limit(limit).offset(offset)
        )
        return HistoryPage(entries=[_to_history_entry(row) for row in rows], total=int(total))

    async def tag_counts(self, user_id: str) -> list[TagCount]:
        """The user's tags with how many of their cases carry each: most used first, then by name."""
        count = func.count().label("count")
        rows = await self._execute(
            select(case_tags.c.tag, count)
            .where(case_tags.c.user_id == user_id)
            .group_by(case_tags.c.tag)
            .order_by(count.desc(), case_tags.c.tag)
        )
        return [TagCount(tag=tag, count=int(n)) for tag, n in rows]

    async def add_transition(
        self,
        transition: StatusTransition,
        *,
        actor_id: str,
        actor_email: str | None,
        correlation_id: str | None,
    ) -> None:
        """Record a status move. On PostgreSQL it waits for the commit (`pending`)."""
        row = {
            "case_id": transition.case_id,
            "from_status": transition.from_status.value,
            "to_status": transition.to_status.value,
            "reason": transition.reason,
            "actor_id": actor_id,
            "actor_email": actor_email,
            "correlation_id": correlation_id,
            "changed_at": transition.changed_at,
        }
        if self._defers_writes and self.pending.transition is None:
            self.pending.transition = row
        else:
            await self._execute(_INSERT_TRANSITION, row)

    async def transitions_of(self, case_id: str) -> list[RecordedTransition]:
        """Every status move of the case, oldest first."""
        rows = await self._execute(
            select(case_status_transitions)
            .where(case_status_transitions.c.case_id == case_id)
            .order_by(case_status_transitions.c.id)
        )
        return [
            RecordedTransition(
                from_status=row.from_status,
                to_status=row.to_status,
                reason=row.reason,
                actor_id=row.actor_id,
                actor_email=row.actor_email,
                changed_at=row.changed_at,
            )
            for row in rows
        ]

    async def next_title_number(self, user_id: str, day: str) -> int:
        """Hand out the next creation number for the user's UTC day, atomically.

        The upsert takes a row lock on PostgreSQL, so concurrent creates get distinct numbers;
        numbers are never reused, even after the cases that got them are deleted.
        """
        stmt = _NEXT_TITLE_NUMBER[self._conn.dialect.name]
        return int((await self._execute(stmt, {"user_id": user_id, "day": day})).scalar_one())

    async def _insert_tags(self, case: Case, tags: Iterable[str]) -> None:
        values = [{"case_id": case.case_id, "tag": tag, "user_id": case.user_id} for tag in tags]
        if values:
            await self._execute(_INSERT_TAG, values)

    async def get_for_event(self, case_id: str, *, for_update: bool = False) -> Case | None:
        """A case named by a platform event, whoever owns it (events are not a user's request)."""
        owner = (
            await self._execute(select(cases.c.user_id).where(cases.c.case_id == case_id))
        ).scalar_one_or_none()
        return None if owner is None else await self.get(case_id, owner, for_update=for_update)

    async def oldest_of_user(self, user_id: str, limit: int) -> list[Case]:
        """Up to `limit` of the user's cases, oldest first, locked until the transaction ends."""
        rows = (
            await self._execute(
                select(cases).where(cases.c.user_id == user_id).order_by(cases.c.seq).limit(limit).with_for_update()
            )
        ).mappings().all()
        tags = await tags_of(self._conn, [row["case_id"] for row in rows])
        return [case_from_row(row, tags[row["case_id"]]) for row in rows]

    async def remove_many(self, removed: Sequence[Case]) -> None:
        """`remove` for many cases in two statements (a user's deletion goes batch by batch)."""
        case_ids = [case.case_id for case in removed]
        if case_ids:
            await self._execute(delete(cases).where(cases.c.case_id.in_(case_ids)))
            await self._execute(delete(case_history).where(case_history.c.case_id.in_(case_ids)))
            self.seen.extend(removed)


# Built once: a statement constructed per call costs more Python than the query takes in PostgreSQL.
_CASE = select(cases).where(cases.c.case_id == bindparam("case_id"), cases.c.user_id == bindparam("user_id"))
_CASE_FOR_UPDATE = _CASE.with_for_update()
# A case's tags, sorted, as one array column of its row (PostgreSQL).
TAGS_OF_CASE = (
    select(func.array_agg(aggregate_order_by(case_tags.c.tag, case_tags.c.tag)))
    .where(case_tags.c.case_id == cases.c.case_id)
    .scalar_subquery()
)
_CASE_WITH_TAGS = select(cases, TAGS_OF_CASE.label("tags")).where(
    cases.c.case_id == bindparam("case_id"), cases.c.user_id == bindparam("user_id")
)
_CASE_WITH_TAGS_FOR_UPDATE = _CASE_WITH_TAGS.with_for_update(of=cases)
# The same statement as asyncpg takes it ($1, $2), compiled once.
_CASE_WITH_TAGS_BY_DRIVER = str(_CASE_WITH_TAGS.compile(dialect=postgresql.asyncpg.dialect()))
# Writes take their values as execution parameters, so the statement (and its cache key) is
# the same object on every call instead of one built from a dozen bound values each time.
_INSERT_CASE = insert(cases)
# Its values are the case's columns by name, beside `key_case_id` and `key_version`; the change's
# one statement (adapters/change_statement.py) takes it as one of its parts.
UPDATE_CASE = update(cases).where(
    cases.c.case_id == bindparam("key_case_id"), cases.c.version == bindparam("key_version")
)
_INSERT_TAG = insert(case_tags)
_INSERT_MESSAGE = insert(case_messages)
_INSERT_TRANSITION = insert(case_status_transitions)


def _title_number_upsert(dialect_insert: Any) -> Any:
    counters = case_title_counters
    return (
        dialect_insert(counters)
        .values(user_id=bindparam("user_id"), day=bindparam("day"), last_number=1)
        .on_conflict_do_update(
            index_elements=[counters.c.user_id, counters.c.day], set_={"last_number": counters.c.last_number + 1}
        )
        .returning(counters.c.last_number)
    )


_NEXT_TITLE_NUMBER = {"postgresql": _title_number_upsert(postgresql.insert), "sqlite": _title_number_upsert(sqlite.insert)}


async def tags_of(conn: LazyConnection, case_ids: Sequence[str]) -> dict[str, list[str]]:
    """Each case's tags, sorted; a case without tags maps to an empty list."""
    found: dict[str, list[str]] = defaultdict(list)
    if case_ids:
        rows = await conn.execute(
            select(case_tags.c.case_id, case_tags.c.tag)
            .where(case_tags.c.case_id.in_(case_ids))
            .order_by(case_tags.c.case_id, case_tags.c.tag)
        )
        for case_id, tag in rows:
            found[case_id].append(tag)
    return found


@dataclass
class PendingWrites:
    """A unit of work's writes that wait for its commit, on PostgreSQL: at most one of each kind."""

    created: Case | None = None
    counted_day: str | None = None  # as in `CaseRepository.add`
    update: dict[str, Any] | None = None  # `_update_values` of the case when it was saved
    transition: dict[str, Any] | None = None
    message: dict[str, Any] | None = None

    def is_empty(self) -> bool:
        return self.created is None and self.update is None and self.transition is None and self.message is None

    def case_ids(self) -> set[str]:
        """The cases these writes touch."""
        of_rows = [row["case_id"] for row in (self.transition, self.message) if row is not None]
        created = [] if self.created is None else [self.created.case_id]
        updated = [] if self.update is None else [self.update["key_case_id"]]
        return {*created, *updated, *of_rows}


def changed_meanwhile(case_id: str) -> ConcurrentModification:
    return ConcurrentModification(f"Case {case_id} changed while it was being updated; retry", case_id=case_id)


def insert_values(case: Case) -> dict[str, Any]:
    """The values of a new case's row."""
    return {**_case_columns(case), "case_id": case.case_id}


def _update_values(case: Case, read_version: int) -> dict[str, Any]:
    """The values of `UPDATE_CASE`: the case's columns, and the key it was read at."""
    return {**_case_columns(case), "key_case_id": case.case_id, "key_version": read_version}


def _case_columns(case: Case) -> dict[str, Any]:
    """The case's columns as statement values, `case_id` (a key) and `seq` (generated) aside."""
    return {
        "user_id": case.user_id,
        "session_id": case.session_id,
        "title": case.title,
        "description": case.description,
        "status": case.status.value,
        "severity": case.severity.value,
        "category": case.category.value,
        "metadata": case.metadata,
        "created_at": case.created_at,
        "updated_at": case.updated_at,
        "resolved_at": case.resolved_at,
        "version": case.version,
        "message_count": case.message_count,
        "last_activity_at": case.last_activity_at or case.updated_at,
    }


# The enums' members by value. Calling the enum (`CaseStatus("active")`) took about 0.29 µs, a dict
# 0.03 µs: three calls per case, 150 per list page, 5% of its instructions (bench/PROFILE.md §19.5).
_STATUSES = {status.value: status for status in CaseStatus}
_SEVERITIES = {severity.value: severity for severity in Severity}
_CATEGORIES = {category.value: category for category in Category}
_ROLES = {role.value: role for role in MessageRole}


def case_from_row(row: Mapping[str, Any], tags: list[str]) -> Case:
    """A case from its row's columns (a RowMapping, or an asyncpg Record): read by key, several
    times faster than a Row's attributes, which a list page reads 750 of."""
    return Case(
        case_id=row["case_id"],
        user_id=row["user_id"],
        title=row["title"],
        description=row["description"],
        status=_STATUSES[row["status"]],
        severity=_SEVERITIES[row["severity"]],
        category=_CATEGORIES[row["category"]],
        metadata=dict(row["metadata"]),
        tags=list(tags),
        session_id=row["session_id"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        resolved_at=row["resolved_at"],
        version=row["version"],
        message_count=row["message_count"],
        last_activity_at=row["last_activity_at"],
    )


def _to_message(row: Row[Any]) -> Message:
    return Message(
        message_id=row.message_id,
        case_id=row.case_id,
        sequence=row.sequence,
        role=_ROLES[row.role],
        content=row.content,
        metadata=dict(row.metadata),
        created_at=row.created_at,
    )


def _to_history_entry(row: Row[Any]) -> HistoryEntry:
    return HistoryEntry(
        history_id=row.id,
        case_id=row.case_id,
        version=row.version,
        event_type=row.event_type,
        details=dict(row.details),
        actor_id=row.actor_id,
        actor_email=row.actor_email,
        correlation_id=row.correlation_id,
        occurred_at=row.occurred_at,
    )
