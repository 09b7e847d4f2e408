"""Read use cases of the case list: list and search, dashboard counts, batch lookup.

They only read, so they run on the read database (DATABASE_READ_URL) when one is configured.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from typing import Protocol

from case_service.domain.case import Case, is_case_id
from case_service.domain.errors import UserNotFound
from case_service.domain.queries import CasePage, CaseQuery, CaseStats
from case_service.service.context import RequestContext


class CaseReader(Protocol):
    async def list(self, query: CaseQuery) -> CasePage: ...

    async def get_many(self, user_id: str, case_ids: Sequence[str]) -> dict[str, Case]: ...

    async def stats(self, query: CaseQuery, window_start: datetime) -> CaseStats: ...


class ReaderFactory(Protocol):
    def __call__(self, *, snapshot: bool = True) -> AbstractAsyncContextManager[CaseReader]:
        """A reader on a read-only snapshot; `snapshot=False` when it will run one statement."""
        ...


@dataclass(frozen=True)
class BatchItem:
    """One requested id and the caller's case under it, or None (missing, or not the caller's)."""

    case_id: str
    case: Case | None


def _needs_snapshot(query: CaseQuery) -> bool:
    """A page with its total is two statements, which must see the same cases. A page alone, a
    search's included, is one (SQLite's reads run in a transaction anyway)."""
    return query.include_total


class CaseQueryService:
    def __init__(self, reader: ReaderFactory, clock: Callable[[], datetime]) -> None:
        self._reader = reader
        self._now = clock

    async def list_cases(self, ctx: RequestContext, query: CaseQuery) -> CasePage:
        """The caller's cases as the query selects, orders and pages them."""
        async with self._reader(snapshot=_needs_snapshot(query)) as reader:
            return await reader.list(replace(query, user_id=ctx.actor.user_id))

    async def list_user_cases(self, ctx: RequestContext, user_id: str, query: CaseQuery) -> CasePage:
        """Another user's list: only for that user or an admin. Anyone else learns nothing, not
        even whether the user exists (404, as for a case that is not theirs)."""
        if user_id != ctx.actor.user_id and not ctx.actor.is_admin:
            raise UserNotFound(user_id)
        async with self._reader(snapshot=_needs_snapshot(query)) as reader:
            return await reader.list(replace(query, user_id=user_id))

    async def case_stats(self, ctx: RequestContext, query: CaseQuery, days: int) -> tuple[CaseStats, date]:
        """Counts over the caller's selected cases; cases created per UTC day over the last
        `days` days (today included). Answers the stats and the first day of the window."""
        first_day = self._now().astimezone(UTC).date() - timedelta(days=days - 1)
        window_start = datetime.combine(first_day, time(), tzinfo=UTC)
        async with self._reader() as reader:
            stats = await reader.stats(replace(query, user_id=ctx.actor.user_id), window_start)
        return stats, first_day

    async def get_cases(self, ctx: RequestContext, case_ids: Sequence[str]) -> list[BatchItem]:
        """Each id with the caller's case, in the order asked (repeats included). Malformed ids
        and other users' cases read like missing ones."""
        wanted = list(dict.fromkeys(case_id for case_id in case_ids if is_case_id(case_id)))
        async with self._reader() as reader:
            found = await reader.get_many(ctx.actor.user_id, wanted)
        return [BatchItem(case_id=case_id, case=found.get(case_id)) for case_id in case_ids]
