"""Case use cases. Each opens one unit of work, drives the aggregate, and commits once."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from case_service.domain.case import Case, CaseStatus, allowed_targets, generated_title, is_case_id, new_case_id
from case_service.domain.errors import CaseNotFound
from case_service.domain.events import FieldChange
from case_service.domain.messages import Message, new_message_id
from case_service.domain.queries import (
    CONTEXT_MAX_EVIDENCE,
    CaseContext,
    ContextBounds,
    EvidencePage,
    HistoryPage,
    MessagePage,
    TagCount,
)
from case_service.domain.merge_patch import case_changes_from_merge_patch
from case_service.service.context import RequestContext
from case_service.service.idempotency import DEFAULT_TTL, IdempotentCall, claim_key, remember_answer
from case_service.service.preconditions import ANY_VERSION, VersionPrecondition
from case_service.service.unit_of_work import UnitOfWork, UnitOfWorkFactory

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class NewCase:
    title: str | None = None
    description: str = ""
    severity: str = "medium"
    category: str = "other"
    metadata: Mapping[str, Any] = field(default_factory=dict)
    tags: tuple[str, ...] = ()
    session_id: str | None = None


class CaseService:
    def __init__(
        self, uow_factory: UnitOfWorkFactory, clock: Clock = utc_now, idempotency_ttl: timedelta = DEFAULT_TTL
    ) -> None:
        self._uow = uow_factory
        self._now = clock
        self._idempotency_ttl = idempotency_ttl

    async def create_case(
        self, ctx: RequestContext, new: NewCase, idempotency: IdempotentCall[Case] | None = None
    ) -> Case:
        """With `idempotency`, a repeat of an answered request raises IdempotentReplay instead."""
        now = self._now()
        async with self._uow(ctx, write=True) as uow:
            await claim_key(uow, ctx, idempotency, now, self._idempotency_ttl)
            # Every creation is counted, titled or not, so N counts the day's cases. A titled
            # case needs no number: its creation is counted when the case is written.
            day = now.date().isoformat()
            if new.title is not None:
                title, counted_day = new.title, day
            else:
                number = await uow.cases.next_title_number(ctx.actor.user_id, day)
                title, counted_day = generated_title(now, number), None
            case = Case.open(
                case_id=new_case_id(),
                user_id=ctx.actor.user_id,
                title=title,
                now=now,
                description=new.description,
                severity=new.severity,
                category=new.category,
                metadata=new.metadata,
                tags=new.tags,
                session_id=new.session_id,
            )
            await uow.cases.add(case, counted_day=counted_day)
            await remember_answer(uow, ctx, idempotency, case)
            await uow.commit()
        return case

    async def get_case(self, ctx: RequestContext, case_id: str) -> Case:
        async with self._uow(ctx, write=False) as uow:
            return await _load(uow, ctx, case_id)

    async def update_case(
        self,
        ctx: RequestContext,
        case_id: str,
        changes: Mapping[str, Any],
        precondition: VersionPrecondition = ANY_VERSION,
    ) -> Case:
        return await self._change(ctx, case_id, lambda case, now: case.update(changes, now), precondition)

    async def patch_case(
        self,
        ctx: RequestContext,
        case_id: str,
        patch: Mapping[str, Any],
        precondition: VersionPrecondition = ANY_VERSION,
    ) -> Case:
        """A JSON Merge Patch (RFC 7386), applied to the case as it is inside the transaction."""
        return await self._change(
            ctx, case_id, lambda case, now: case.update(case_changes_from_merge_patch(case, patch), now), precondition
        )

    async def add_tags(
        self, ctx: RequestContext, case_id: str, tags: Iterable[str], precondition: VersionPrecondition = ANY_VERSION
    ) -> Case:
        """Tags the case already has change nothing; a call that adds none keeps the version."""
        return await self._change(ctx, case_id, lambda case, now: case.add_tags(tags, now), precondition)

    async def remove_tag(
        self, ctx: RequestContext, case_id: str, tag: str, precondition: VersionPrecondition = ANY_VERSION
    ) -> Case:
        """Removing a tag the case does not carry changes nothing (and is no error)."""
        return await self._change(ctx, case_id, lambda case, now: case.remove_tag(tag, now), precondition)

    async def _change(
        self,
        ctx: RequestContext,
        case_id: str,
        apply: Callable[[Case, datetime], dict[str, FieldChange]],
        precondition: VersionPrecondition,
    ) -> Case:
        async with self._uow(ctx, write=True) as uow:
            case = await _load(uow, ctx, case_id, for_update=True)
            precondition.check(case)
            read_version = case.version
            if apply(case, self._now()):
                await uow.cases.save(case, expected_version=read_version)
                await uow.commit()
        return case

    async def tag_counts(self, ctx: RequestContext) -> list[TagCount]:
        async with self._uow(ctx, write=False) as uow:
            return await uow.cases.tag_counts(ctx.actor.user_id)

    async def add_message(
        self,
        ctx: RequestContext,
        case_id: str,
        *,
        role: str,
        content: str,
        metadata: Mapping[str, Any],
        precondition: VersionPrecondition = ANY_VERSION,
        idempotency: IdempotentCall[Message] | None = None,
    ) -> Message:
        """Append a message. The case row lock makes concurrent appends queue, so sequences are
        distinct and gap-free (SQLite writers are serialized anyway)."""
        now = self._now()
        async with self._uow(ctx, write=True) as uow:
            # The key first: a replay must not meet the If-Match its own first run made stale.
            await claim_key(uow, ctx, idempotency, now, self._idempotency_ttl)
            case = await _load(uow, ctx, case_id, for_update=True)
            precondition.check(case)
            read_version = case.version
            message = case.add_message(
                message_id=new_message_id(), role=role, content=content, metadata=dict(metadata), now=now
            )
            await uow.cases.save(case, expected_version=read_version)
            await uow.cases.add_message(message)
            await remember_answer(uow, ctx, idempotency, message)
            await uow.commit()
        return message

    async def list_messages(
        self, ctx: RequestContext, case_id: str, *, after: int, limit: int, offset: int
    ) -> MessagePage:
        async with self._uow(ctx, write=False, snapshot=True) as uow:
            await _load(uow, ctx, case_id)
            return await uow.cases.messages_of(case_id, after=after, limit=limit, offset=offset)

    async def case_history(self, ctx: RequestContext, case_id: str, *, limit: int, offset: int) -> HistoryPage:
        async with self._uow(ctx, write=False, snapshot=True) as uow:
            await _load(uow, ctx, case_id)
            return await uow.cases.history_of(case_id, limit=limit, offset=offset)

    async def list_evidence(self, ctx: RequestContext, case_id: str, *, limit: int, offset: int) -> EvidencePage:
        """The evidence linked to the case by `evidence.uploaded` events, oldest upload first."""
        async with self._uow(ctx, write=False, snapshot=True) as uow:
            await _load(uow, ctx, case_id)
            return await uow.evidence.of_case(case_id, limit=limit, offset=offset)

    async def reachable_statuses(self, ctx: RequestContext, case_id: str) -> tuple[Case, tuple[CaseStatus, ...]]:
        case = await self.get_case(ctx, case_id)
        return case, allowed_targets(case.status)

    async def case_context(self, ctx: RequestContext, case_id: str, bounds: ContextBounds) -> CaseContext:
        """The case, its status history and its newest messages within the bounds.

        A fixed number of queries whatever the number of messages, all on one snapshot, so the
        same state always gives the same context.
        """
        async with self._uow(ctx, write=False, snapshot=True) as uow:
            case = await _load(uow, ctx, case_id)
            transitions = await uow.cases.transitions_of(case_id)
            messages = await uow.cases.newest_messages(case, bounds)
            evidence = await uow.evidence.newest_of_case(case_id, CONTEXT_MAX_EVIDENCE)
        return CaseContext(
            case=case, status_history=transitions, messages=messages, bounds=bounds, evidence=evidence
        )

    async def change_status(
        self,
        ctx: RequestContext,
        case_id: str,
        status: str,
        reason: str | None,
        precondition: VersionPrecondition = ANY_VERSION,
        idempotency: IdempotentCall[Case] | None = None,
    ) -> Case:
        now = self._now()
        async with self._uow(ctx, write=True) as uow:
            await claim_key(uow, ctx, idempotency, now, self._idempotency_ttl)
            case = await _load(uow, ctx, case_id, for_update=True)
            precondition.check(case)
            read_version = case.version
            transition = case.change_status(status, reason, now)
            await uow.cases.save(case, expected_version=read_version)
            await uow.cases.add_transition(
                transition,
                actor_id=ctx.actor.user_id,
                actor_email=ctx.actor.email,
                correlation_id=ctx.correlation_id,
            )
            await remember_answer(uow, ctx, idempotency, case)
            await uow.commit()
        return case

    async def delete_case(
        self, ctx: RequestContext, case_id: str, precondition: VersionPrecondition = ANY_VERSION
    ) -> None:
        async with self._uow(ctx, write=True) as uow:
            case = await _load(uow, ctx, case_id, for_update=True)
            precondition.check(case)
            case.delete(self._now())
            await uow.cases.remove(case)
            await uow.commit()


async def _load(uow: UnitOfWork, ctx: RequestContext, case_id: str, *, for_update: bool = False) -> Case:
    """The caller's case, or CaseNotFound: another user's case reads exactly like a missing one."""
    if not is_case_id(case_id):
        raise CaseNotFound(case_id[:64])
    case = await uow.cases.get(case_id, ctx.actor.user_id, for_update=for_update)
    if case is None:
        raise CaseNotFound(case_id)
    return case
