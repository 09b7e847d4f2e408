"""Applying platform events exactly once, whichever way they arrive (broker, HTTP, replay).

Every delivery goes through the inbox guard: the event's inbox row is claimed (created `pending`
and locked) in the same unit of work as the effect, and completed with its outcome before that
unit commits. A delivery that finds the row completed is a duplicate and changes nothing. All ways
in share one consumer name, so the same `event_id` applies once whether it came over a broker, the
HTTP ingress or a replay.

A user's deletion is the one effect too large for one transaction: it runs batch by batch, each
batch its own unit of work that also records the progress on the still-`pending` inbox row. The
last batch (the one that finds fewer cases than a full batch) completes the row. A crash in
between leaves the row `pending`; the redelivery resumes with the cases that are left, and no
case is deleted or announced twice, because a deleted case is no longer there to be found.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from case_service.domain.case import Case, is_case_id
from case_service.domain.errors import DeadLetterNotFound, ReplayFailed
from case_service.domain.evidence import Evidence
from case_service.domain.inbox import DeadLetter, DeadLetterPage, InboxEntry, Outcome
from case_service.domain.platform_events import (
    EVIDENCE_UPLOADED,
    HYPOTHESIS_VALIDATED,
    USER_DELETED,
    HypothesisValidated,
    IncomingEvent,
    MalformedEvent,
    UserDeleted,
    evidence_uploaded,
    hypothesis_decision,
    hypothesis_validated,
    parse_event,
    user_deleted,
)
from case_service.service.context import SERVICE_ROLE, Actor, RequestContext
from case_service.service.unit_of_work import UnitOfWork, UnitOfWorkFactory

if TYPE_CHECKING:
    from case_service.config import Settings
    from case_service.observability.metrics import Metrics

Clock = Callable[[], datetime]
Heartbeat = Callable[[], Awaitable[None]]
# `case.deleted` carries this reason when the case went with its owner's account.
USER_DELETED_REASON = "user_deleted"
# The actor of changes made by an event whose envelope names no producer.
DEFAULT_EVENT_ACTOR = "platform-events"


@dataclass(frozen=True)
class EventPolicy:
    consumer: str
    user_deletion_batch_size: int
    hypothesis_resolve_confidence: float


def event_policy(settings: Settings) -> EventPolicy:
    return EventPolicy(
        consumer=settings.event_consumer_name,
        user_deletion_batch_size=settings.user_deletion_batch_size,
        hypothesis_resolve_confidence=settings.hypothesis_resolve_confidence,
    )


@dataclass(frozen=True)
class Receipt:
    """What one delivery did: `duplicate` when the event had already been completed."""

    event_id: str
    event_type: str
    outcome: Outcome
    reason: str | None
    affected: int


@dataclass(frozen=True)
class Effect:
    outcome: Outcome
    reason: str
    affected: int = 0


class PlatformEventService:
    def __init__(
        self, uow_factory: UnitOfWorkFactory, policy: EventPolicy, clock: Clock, metrics: Metrics | None = None
    ) -> None:
        self._uow = uow_factory
        self._policy = policy
        self._now = clock
        self._metrics = metrics

    @property
    def consumer(self) -> str:
        return self._policy.consumer

    async def receive(self, body: bytes, source: str, *, heartbeat: Heartbeat | None = None) -> Receipt:
        """Apply the event in `body` once. Raises MalformedEvent for what can never be applied;
        any other exception is a failure worth retrying (nothing of the attempt was committed).

        `heartbeat` is awaited between the batches of a long effect (a user's deletion), so the
        deliverer can tell its broker the event is still being worked on."""
        event = parse_event(body)
        receipt = await self._dispatch(event, source, heartbeat)
        if self._metrics is not None:
            if receipt.outcome is Outcome.DUPLICATE:
                self._metrics.inbox_duplicates.inc()
            else:
                self._metrics.inbox_processed.labels(event_type=event.event_type).inc()
        return receipt

    async def _dispatch(self, event: IncomingEvent, source: str, heartbeat: Heartbeat | None) -> Receipt:
        # Payloads are checked before any transaction: a malformed one must leave no inbox row.
        if event.event_type == USER_DELETED:
            return await self._delete_user_cases(event, user_deleted(event), source, heartbeat)
        if event.event_type == EVIDENCE_UPLOADED:
            evidence = evidence_uploaded(event)
            return await self._once(event, source, lambda uow, ctx, now: self._link(uow, evidence, event, now))
        if event.event_type == HYPOTHESIS_VALIDATED:
            hypothesis = hypothesis_validated(event)
            return await self._once(event, source, lambda uow, ctx, now: self._advance(uow, ctx, hypothesis, now))
        unhandled = Effect(Outcome.IGNORED, f"the case service has no handler for {event.event_type}")
        return await self._once(event, source, lambda uow, ctx, now: _done(unhandled))

    async def _once(
        self,
        event: IncomingEvent,
        source: str,
        apply: Callable[[UnitOfWork, RequestContext, datetime], Awaitable[Effect]],
    ) -> Receipt:
        """Claim, apply, record, commit: one unit of work."""
        ctx = _event_context(event)
        async with self._uow(ctx, write=True) as uow:
            now = self._now()
            entry = await uow.inbox.claim(self._policy.consumer, event, source, now)
            if entry.outcome is not Outcome.PENDING:
                return _duplicate(entry)
            effect = await apply(uow, ctx, now)
            await uow.inbox.record(
                entry, outcome=effect.outcome, reason=effect.reason, affected=effect.affected, now=now
            )
            await uow.commit()
        return Receipt(event.event_id, event.event_type, effect.outcome, effect.reason, effect.affected)

    async def _link(self, uow: UnitOfWork, evidence: Evidence, event: IncomingEvent, now: datetime) -> Effect:
        case = await _case_named(uow, evidence.case_id)
        if case is None:
            return _unknown_case(evidence.case_id)
        linked = await uow.evidence.get(evidence.evidence_id)
        if linked is not None:
            return Effect(Outcome.IGNORED, f"evidence {linked.evidence_id} is already linked to {linked.case_id}")
        read_version = case.version
        case.add_evidence(evidence, now)
        await uow.cases.save(case, expected_version=read_version)
        await uow.evidence.add(evidence, event_id=event.event_id, now=now)
        return Effect(Outcome.APPLIED, f"evidence {evidence.evidence_id} linked to {case.case_id}", affected=1)

    async def _advance(
        self, uow: UnitOfWork, ctx: RequestContext, hypothesis: HypothesisValidated, now: datetime
    ) -> Effect:
        case = await _case_named(uow, hypothesis.case_id)
        if case is None:
            return _unknown_case(hypothesis.case_id)
        decision = hypothesis_decision(case.status, hypothesis, self._policy.hypothesis_resolve_confidence)
        if decision.target is None:
            return Effect(Outcome.IGNORED, decision.reason)
        read_version = case.version
        transition = case.change_status(decision.target, decision.reason, now)
        await uow.cases.save(case, expected_version=read_version)
        await uow.cases.add_transition(
            transition, actor_id=ctx.actor.user_id, actor_email=None, correlation_id=ctx.correlation_id
        )
        moved = f"{transition.from_status.value} -> {transition.to_status.value}"
        return Effect(Outcome.APPLIED, f"case {case.case_id} moved {moved}: {decision.reason}", affected=1)

    async def _delete_user_cases(
        self, event: IncomingEvent, deleted: UserDeleted, source: str, heartbeat: Heartbeat | None
    ) -> Receipt:
        ctx = _event_context(event)
        batch_size = self._policy.user_deletion_batch_size
        while True:
            async with self._uow(ctx, write=True) as uow:
                now = self._now()
                entry = await uow.inbox.claim(self._policy.consumer, event, source, now)
                if entry.outcome is not Outcome.PENDING:
                    return _duplicate(entry)
                batch = await uow.cases.oldest_of_user(deleted.user_id, batch_size)
                for case in batch:
                    case.delete(now, reason=USER_DELETED_REASON)
                await uow.cases.remove_many(batch)
                affected = entry.affected + len(batch)
                finished = len(batch) < batch_size
                reason = f"deleted {affected} case(s) of user {deleted.user_id}"
                await uow.inbox.record(
                    entry,
                    outcome=Outcome.APPLIED if finished else Outcome.PENDING,
                    reason=reason if finished else reason + " so far",
                    affected=affected,
                    now=now if finished else None,
                )
                await uow.commit()
            if finished:
                return Receipt(event.event_id, event.event_type, Outcome.APPLIED, reason, affected)
            # Between batches, let the requests queued behind this writer go first.
            await asyncio.sleep(0)
            if heartbeat is not None:
                await heartbeat()

    # Dead letters ---------------------------------------------------------------------------------

    async def dead_letter(self, body: bytes, source: str, error: str, attempts: int) -> int:
        """Keep an event that could not be applied, with why; returns its dead-letter id."""
        event_id, event_type = _what_is_known(body)
        async with self._uow(_operations_context(), write=True) as uow:
            dead_letter_id = await uow.dead_letters.add(
                consumer=self._policy.consumer,
                event_id=event_id,
                event_type=event_type,
                source=source,
                body=body,
                error=error,
                attempts=attempts,
                now=self._now(),
            )
            await uow.commit()
        if self._metrics is not None:
            self._metrics.inbox_dead_letters.inc()
        return dead_letter_id

    async def dead_letters(self, *, limit: int, offset: int) -> DeadLetterPage:
        async with self._uow(_operations_context(), write=False) as uow:
            return await uow.dead_letters.page(limit=limit, offset=offset)

    async def replay(self, dead_letter_id: int) -> Receipt:
        """Apply a dead-lettered event again, through the inbox guard: a second replay is a duplicate.

        The dead letter is kept, marked with when it was replayed and the outcome (delete it when
        done). A replay that fails again adds an attempt and the new error, and raises ReplayFailed.
        """
        found = await self._dead_letter(dead_letter_id)
        try:
            receipt = await self.receive(found.body, "replay")
        except Exception as exc:  # noqa: BLE001 - whatever failed, the operator gets it in the body
            error = describe_failure(exc)
            async with self._uow(_operations_context(), write=True) as uow:
                await uow.dead_letters.failed_again(dead_letter_id, error, self._now())
                await uow.commit()
            raise ReplayFailed(f"Replaying dead letter {dead_letter_id} failed: {error}", error=error) from exc
        async with self._uow(_operations_context(), write=True) as uow:
            await uow.dead_letters.replayed(dead_letter_id, receipt.outcome, self._now())
            await uow.commit()
        return receipt

    async def delete_dead_letter(self, dead_letter_id: int) -> None:
        async with self._uow(_operations_context(), write=True) as uow:
            if not await uow.dead_letters.remove(dead_letter_id):
                raise DeadLetterNotFound(dead_letter_id)
            await uow.commit()

    async def _dead_letter(self, dead_letter_id: int) -> DeadLetter:
        async with self._uow(_operations_context(), write=False) as uow:
            found = await uow.dead_letters.get(dead_letter_id)
        if found is None:
            raise DeadLetterNotFound(dead_letter_id)
        return found


class InboxPurge:
    """Deletes the inbox rows completed longer ago than the retention, a batch per transaction.

    Run by the outbox relay's leader beside its own purge, and by `case-service purge-inbox`. A
    purged event delivered again would apply again, so the retention must outlast every way an
    event can come back (INBOX_RETENTION_SECONDS). Pending rows are never purged.
    """

    def __init__(self, uow_factory: UnitOfWorkFactory, clock: Clock, retention: timedelta, batch_size: int) -> None:
        self._uow = uow_factory
        self._now = clock
        self._retention = retention
        self._batch_size = batch_size

    @classmethod
    def for_settings(cls, uow_factory: UnitOfWorkFactory, clock: Clock, settings: Settings) -> InboxPurge:
        retention = timedelta(seconds=settings.inbox_retention_seconds)
        return cls(uow_factory, clock, retention, settings.outbox_purge_batch_size)

    async def purge(self) -> int:
        """How many rows went."""
        older_than = self._now() - self._retention
        purged = 0
        while True:
            async with self._uow(_operations_context(), write=True) as uow:
                deleted = await uow.inbox.purge_completed(older_than, self._batch_size)
                await uow.commit()
            purged += deleted
            if deleted < self._batch_size:
                return purged


def describe_failure(exc: BaseException) -> str:
    if isinstance(exc, MalformedEvent):
        return f"{exc.code}: {exc.reason}"
    return f"{type(exc).__name__}: {exc}"[:2000]


async def _case_named(uow: UnitOfWork, case_id: str) -> Case | None:
    return await uow.cases.get_for_event(case_id, for_update=True) if is_case_id(case_id) else None


def _unknown_case(case_id: str) -> Effect:
    return Effect(Outcome.UNKNOWN_CASE, f"no case {case_id[:64]} here (never created, or deleted since)")


async def _done(effect: Effect) -> Effect:
    return effect


def _duplicate(entry: InboxEntry) -> Receipt:
    return Receipt(entry.event_id, entry.event_type, Outcome.DUPLICATE, f"already {entry.outcome.value}", 0)


def _event_context(event: IncomingEvent) -> RequestContext:
    """Changes an event makes are attributed to its producer, under its correlation id."""
    actor = Actor(user_id=event.producer or DEFAULT_EVENT_ACTOR, roles=frozenset({SERVICE_ROLE}))
    return RequestContext(actor=actor, correlation_id=event.correlation_id or event.event_id)


def _operations_context() -> RequestContext:
    return RequestContext(actor=Actor(user_id=DEFAULT_EVENT_ACTOR, roles=frozenset({SERVICE_ROLE})), correlation_id="")


def _what_is_known(body: bytes) -> tuple[str | None, str | None]:
    """The event id and type of a delivery, as far as they can be read (for the dead letter)."""
    try:
        event = parse_event(body)
    except MalformedEvent as exc:
        return _fit(exc.event_id, 36), _fit(exc.event_type, 100)
    return event.event_id, event.event_type


def _fit(value: Any, length: int) -> str | None:
    if not isinstance(value, str):
        return None
    printable = "".join(char for char in value if char.isprintable())[:length]
    return printable or None
