"""Idempotent writes: a retried request with the same `Idempotency-Key` gets the first answer again.

The key is claimed at the start of the write's unit of work and the answer is stored in it before
the commit, so the stored answer is exactly the change that committed: a failed write rolls its
claim back (a retry runs afresh), and a concurrent duplicate waits on the claim (PostgreSQL's
unique index; SQLite queues its writers) and then finds the answer.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Generic, Protocol, TypeVar

from case_service.domain.errors import IdempotencyKeyReused
from case_service.service.context import Actor, RequestContext

if TYPE_CHECKING:
    from case_service.service.unit_of_work import UnitOfWork, UnitOfWorkFactory

T = TypeVar("T")

DEFAULT_TTL = timedelta(hours=24)


@dataclass(frozen=True)
class StoredResponse:
    """An answer as the caller received it: kept so a replay is byte for byte the same."""

    status_code: int
    body: str
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class IdempotentCall(Generic[T]):
    """A write sent with an Idempotency-Key. `fingerprint` identifies the request (endpoint and
    body); `respond` turns the write's result into the answer to store and send."""

    key: str
    fingerprint: str
    respond: Callable[[T], StoredResponse]


@dataclass(frozen=True)
class ClaimedKey:
    """A key already used by the caller: the fingerprint of its request and the answer it got."""

    fingerprint: str
    response: StoredResponse


class IdempotentReplay(Exception):
    """The request repeats one already answered: send `response` again, change nothing."""

    def __init__(self, response: StoredResponse) -> None:
        super().__init__("idempotent replay")
        self.response = response


class IdempotencyStore(Protocol):
    async def claim(
        self, user_id: str, key: str, fingerprint: str, *, now: datetime, expires_at: datetime
    ) -> ClaimedKey | None:
        """Claim the key for this transaction (None), or return the live claim that holds it."""
        ...

    async def remember(self, user_id: str, key: str, response: StoredResponse) -> None: ...

    async def purge_expired(self, now: datetime) -> int: ...


async def claim_key(
    uow: UnitOfWork, ctx: RequestContext, call: IdempotentCall[T] | None, now: datetime, ttl: timedelta
) -> None:
    """Claim the call's key in this unit of work, or raise: the replay, or the key's reuse (422)."""
    if call is None:
        return
    claimed = await uow.idempotency.claim(
        ctx.actor.user_id, call.key, call.fingerprint, now=now, expires_at=now + ttl
    )
    if claimed is None:
        return
    if claimed.fingerprint != call.fingerprint:
        raise IdempotencyKeyReused(call.key)
    raise IdempotentReplay(claimed.response)


async def remember_answer(
    uow: UnitOfWork, ctx: RequestContext, call: IdempotentCall[T] | None, result: T
) -> None:
    """Store the answer in the unit of work, before it commits."""
    if call is not None:
        await uow.idempotency.remember(ctx.actor.user_id, call.key, call.respond(result))


class IdempotencyKeyPurge:
    """The use case that deletes expired keys (run by `case-service purge-idempotency-keys`).

    Expired keys are already ignored (a new request takes them over); purging only frees space.
    """

    def __init__(self, uow_factory: UnitOfWorkFactory, clock: Callable[[], datetime]) -> None:
        self._uow = uow_factory
        self._now = clock

    async def purge_expired(self) -> int:
        ctx = RequestContext(actor=Actor(user_id="case-service"), correlation_id=uuid.uuid4().hex)
        async with self._uow(ctx, write=True) as uow:
            purged = await uow.idempotency.purge_expired(self._now())
            await uow.commit()
        return purged
