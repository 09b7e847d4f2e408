"""The SQLAlchemy unit of work: one connection, one transaction, outbox rows written with the change."""

from __future__ import annotations

from types import TracebackType

from case_service.adapters.change_statement import write_change_and_commit
from case_service.adapters.database import Database, LazyConnection
from case_service.adapters.evidence import EvidenceRepository
from case_service.adapters.history import history_rows, write_history
from case_service.adapters.idempotency import SqlIdempotencyStore
from case_service.adapters.inbox import DeadLetterStore, InboxStore
from case_service.adapters.outbox import outbox_rows, write_events
from case_service.adapters.repository import CaseRepository
from case_service.service.context import RequestContext


class SqlAlchemyUnitOfWork:
    def __init__(
        self, database: Database, context: RequestContext, *, write: bool, producer: str, snapshot: bool = False
    ) -> None:
        self._database = database
        self._context = context
        self._write = write
        self._snapshot = snapshot
        self._producer = producer
        self._conn: LazyConnection | None = None

    async def __aenter__(self) -> SqlAlchemyUnitOfWork:
        self._conn = await LazyConnection(self._database, write=self._write, snapshot=self._snapshot).__aenter__()
        self.cases = CaseRepository(self._conn)
        self.idempotency = SqlIdempotencyStore(self._conn)
        self.evidence = EvidenceRepository(self._conn)
        self.inbox = InboxStore(self._conn)
        self.dead_letters = DeadLetterStore(self._conn)
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        # Leaving without commit() rolls back: the connection context does it.
        assert self._conn is not None, "__aexit__ without __aenter__"
        await self._conn.__aexit__(exc_type, exc, tb)

    async def commit(self) -> None:
        assert self._conn is not None, "commit() outside the unit of work"
        conn = await self._conn.sqlalchemy()
        touched = list({id(case): case for case in self.cases.seen}.values())
        events = [event for case in touched for event in case.events]
        one_event = len(events) == 1 and self.cases.pending.case_ids() <= {events[0].case_id}
        if self._database.dialect == "postgresql" and one_event:
            # The common change, one event of one case: one statement.
            await write_change_and_commit(
                conn,
                self.cases.take_pending(),
                outbox_rows(events, self._context, self._producer)[0],
                history_rows(events, self._context)[0],
            )
        else:
            await self.cases.write_pending()
            await write_events(conn, events, self._context, self._producer)
            await write_history(conn, events, self._context)
            await conn.commit()
        for case in touched:
            case.events.clear()
        if events:
            self._database.outbox_written()


class SqlAlchemyUnitOfWorkFactory:
    def __init__(self, database: Database, producer: str) -> None:
        self._database = database
        self._producer = producer

    def __call__(self, context: RequestContext, *, write: bool, snapshot: bool = False) -> SqlAlchemyUnitOfWork:
        return SqlAlchemyUnitOfWork(self._database, context, write=write, producer=self._producer, snapshot=snapshot)
