"""The unit of work: the one commit point of a use case. It rolls back unless told to commit."""

from __future__ import annotations

from types import TracebackType
from typing import Protocol

from case_service.adapters.evidence import EvidenceRepository
from case_service.adapters.inbox import DeadLetterStore, InboxStore
from case_service.adapters.repository import CaseRepository
from case_service.service.context import RequestContext
from case_service.service.idempotency import IdempotencyStore


class UnitOfWork(Protocol):
    cases: CaseRepository
    idempotency: IdempotencyStore
    evidence: EvidenceRepository
    inbox: InboxStore
    dead_letters: DeadLetterStore

    async def __aenter__(self) -> UnitOfWork: ...

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None: ...

    async def commit(self) -> None:
        """Write the events the touched cases recorded to the outbox, then commit everything."""
        ...


class UnitOfWorkFactory(Protocol):
    def __call__(self, context: RequestContext, *, write: bool, snapshot: bool = False) -> UnitOfWork:
        """`snapshot`: every read of the unit of work sees the same committed state."""
        ...
