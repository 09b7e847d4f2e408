"""The inbox and the dead letters, in SQL. Like the repository, nothing here commits."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select, tuple_, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Row

from case_service.adapters.database import LazyConnection
from case_service.adapters.tables import event_dead_letter, event_inbox
from case_service.domain.inbox import DeadLetter, DeadLetterPage, InboxEntry, Outcome
from case_service.domain.platform_events import IncomingEvent


class InboxStore:
    def __init__(self, conn: LazyConnection) -> None:
        self._conn = conn

    async def claim(self, consumer: str, event: IncomingEvent, source: str, now: datetime) -> InboxEntry:
        """The event's inbox row, created `pending` if absent and locked until the transaction ends.

        Two deliveries of one event queue on this row (PostgreSQL: the insert waits for the other
        transaction; SQLite: writers are serialized), so the second sees what the first committed.
        """
        dialect_insert = postgresql.insert if self._conn.dialect.name == "postgresql" else sqlite.insert
        await self._conn.execute(
            dialect_insert(event_inbox)
            .values(
                consumer=consumer,
                event_id=event.event_id,
                event_type=event.event_type,
                source=source,
                outcome=Outcome.PENDING.value,
                affected=0,
                correlation_id=event.correlation_id,
                received_at=now,
            )
            .on_conflict_do_nothing(index_elements=[event_inbox.c.consumer, event_inbox.c.event_id])
        )
        row = (
            await self._conn.execute(
                select(event_inbox)
                .where(event_inbox.c.consumer == consumer, event_inbox.c.event_id == event.event_id)
                .with_for_update()
            )
        ).one()
        return InboxEntry(
            consumer=row.consumer,
            event_id=row.event_id,
            event_type=row.event_type,
            outcome=Outcome(row.outcome),
            reason=row.reason,
            affected=row.affected,
        )

    async def record(
        self, entry: InboxEntry, *, outcome: Outcome, reason: str | None, affected: int, now: datetime | None
    ) -> None:
        """Write the outcome so far; `now` completes the entry (None keeps it pending)."""
        await self._conn.execute(
            update(event_inbox)
            .where(event_inbox.c.consumer == entry.consumer, event_inbox.c.event_id == entry.event_id)
            .values(outcome=outcome.value, reason=reason, affected=affected, completed_at=now)
        )

    async def purge_completed(self, older_than: datetime, limit: int) -> int:
        """Delete up to `limit` rows completed before `older_than`; pending rows are never touched
        (a user's deletion in progress keeps its count there). Returns how many went."""
        oldest = (
            select(event_inbox.c.consumer, event_inbox.c.event_id)
            .where(event_inbox.c.completed_at.is_not(None), event_inbox.c.completed_at < older_than)
            .limit(limit)
        )
        result = await self._conn.execute(
            delete(event_inbox).where(tuple_(event_inbox.c.consumer, event_inbox.c.event_id).in_(oldest))
        )
        return int(result.rowcount)


class DeadLetterStore:
    def __init__(self, conn: LazyConnection) -> None:
        self._conn = conn

    async def add(
        self,
        *,
        consumer: str,
        event_id: str | None,
        event_type: str | None,
        source: str,
        body: bytes,
        error: str,
        attempts: int,
        now: datetime,
    ) -> int:
        result = await self._conn.execute(
            event_dead_letter.insert()
            .values(
                consumer=consumer,
                event_id=event_id,
                event_type=event_type,
                source=source,
                body=body,
                error=error,
                attempts=attempts,
                first_failed_at=now,
                last_failed_at=now,
            )
            .returning(event_dead_letter.c.id)
        )
        return int(result.scalar_one())

    async def page(self, *, limit: int, offset: int) -> DeadLetterPage:
        """Newest first."""
        total = (await self._conn.execute(select(func.count()).select_from(event_dead_letter))).scalar_one()
        rows = await self._conn.execute(
            select(event_dead_letter).order_by(event_dead_letter.c.id.desc()).limit(limit).offset(offset)
        )
        return DeadLetterPage(dead_letters=[_to_dead_letter(row) for row in rows], total=int(total))

    async def get(self, dead_letter_id: int) -> DeadLetter | None:
        row = (
            await self._conn.execute(select(event_dead_letter).where(event_dead_letter.c.id == dead_letter_id))
        ).one_or_none()
        return None if row is None else _to_dead_letter(row)

    async def replayed(self, dead_letter_id: int, outcome: Outcome, now: datetime) -> None:
        await self._conn.execute(
            update(event_dead_letter)
            .where(event_dead_letter.c.id == dead_letter_id)
            .values(replayed_at=now, replay_outcome=outcome.value)
        )

    async def failed_again(self, dead_letter_id: int, error: str, now: datetime) -> None:
        await self._conn.execute(
            update(event_dead_letter)
            .where(event_dead_letter.c.id == dead_letter_id)
            .values(attempts=event_dead_letter.c.attempts + 1, error=error, last_failed_at=now)
        )

    async def remove(self, dead_letter_id: int) -> bool:
        result = await self._conn.execute(delete(event_dead_letter).where(event_dead_letter.c.id == dead_letter_id))
        return bool(result.rowcount)


def _to_dead_letter(row: Row[Any]) -> DeadLetter:
    return DeadLetter(
        dead_letter_id=row.id,
        consumer=row.consumer,
        event_id=row.event_id,
        event_type=row.event_type,
        source=row.source,
        body=bytes(row.body),
        error=row.error,
        attempts=row.attempts,
        first_failed_at=row.first_failed_at,
        last_failed_at=row.last_failed_at,
        replayed_at=row.replayed_at,
        replay_outcome=row.replay_outcome,
    )
