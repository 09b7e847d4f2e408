"""Case use cases. Each opens one unit of work, drives the aggregate, and commits once."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from case_service.domain.case import Case, generated_title, is_case_id, new_case_id
from case_service.domain.errors import CaseNotFound
from case_service.domain.queries import CasePage, CaseQuery
from case_service.service.context import RequestContext
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
    def __init__(self, uow_factory: UnitOfWorkFactory, clock: Clock = utc_now) -> None:
        self._uow = uow_factory
        self._now = clock

    async def create_case(self, ctx: RequestContext, new: NewCase) -> Case:
        now = self._now()
        async with self._uow(ctx, write=True) as uow:
            # Every creation takes a number, titled or not, so N counts the day's cases.
            number = await uow.cases.next_title_number(ctx.actor.user_id, now.date().isoformat())
            case = Case.open(
                case_id=new_case_id(),
                user_id=ctx.actor.user_id,
                title=new.title if new.title is not None else generated_title(now, number),
                now=now,
                description=new.description,
                severity=new.severity,
                category=new.category,
                metadata=new.metadata,
                tags=new.tags,
                session_id=new.session_id,
            )
            await uow.cases.add(case)
            await uow.commit()
        return case

    async def get_case(self, ctx: RequestContext, case_id: str) -> Case:
        async with self._uow(ctx, write=False) as uow:
            return await _load(uow, ctx, case_id)

    async def update_case(self, ctx: RequestContext, case_id: str, changes: Mapping[str, Any]) -> Case:
        async with self._uow(ctx, write=True) as uow:
            case = await _load(uow, ctx, case_id, for_update=True)
            read_version = case.version
            if case.update(changes, self._now()):
                await uow.cases.save(case, expected_version=read_version)
                await uow.commit()
        return case

    async def change_status(self, ctx: RequestContext, case_id: str, status: str, reason: str | None) -> Case:
        async with self._uow(ctx, write=True) as uow:
            case = await _load(uow, ctx, case_id, for_update=True)
            read_version = case.version
            transition = case.change_status(status, reason, self._now())
            await uow.cases.save(case, expected_version=read_version)
            await uow.cases.add_transition(
                transition,
                actor_id=ctx.actor.user_id,
                actor_email=ctx.actor.email,
                correlation_id=ctx.correlation_id,
            )
            await uow.commit()
        return case

    async def delete_case(self, ctx: RequestContext, case_id: str) -> None:
        async with self._uow(ctx, write=True) as uow:
            case = await _load(uow, ctx, case_id, for_update=True)
            case.delete(self._now())
            await uow.cases.remove(case)
            await uow.commit()

    async def list_cases(self, ctx: RequestContext, query: CaseQuery) -> CasePage:
        async with self._uow(ctx, write=False) as uow:
            return await uow.cases.list(query)


async def _load(uow: UnitOfWork, ctx: RequestContext, case_id: str, *, for_update: bool = False) -> Case:
    """The caller's case, or CaseNotFound: another user's case reads exactly like a missing one."""
    if not is_case_id(case_id):
        raise CaseNotFound(case_id[:64])
    case = await uow.cases.get(case_id, ctx.actor.user_id, for_update=for_update)
    if case is None:
        raise CaseNotFound(case_id)
    return case
