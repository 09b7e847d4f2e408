"""Routes that read many cases: list and search, dashboard counts, batch lookup.

Included after the cases router: its by-id routes' `{case_id:case}` leaves `/stats` and `/batch`
to this one (`cases.FIXED_SEGMENTS`).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse

from case_service.api.deps import CaseQueriesDep, ContextDep
from case_service.api.listing import CaseFiltersDep, CaseListingDep, list_response, query_value
from case_service.api.listing_schemas import BatchItemRead, BatchLookup, BatchResult, CaseStatsRead
from case_service.api.routes.cases import errors
from case_service.api.schemas import CaseList
from case_service.domain.case import normalize_session_id

router = APIRouter(prefix="/api/v1/cases", tags=["cases"])

LIST_DESCRIPTION = (
    "Newest first by default (cases created in the same instant: the later-created first); with `q`, "
    "most relevant first: each search term scores 4 when it matches the title, 2 the tags, 1 the "
    "description (the best field counts once per term). Repeat a filter parameter to match any of "
    "several values (`?status=active&status=investigating`); different filters combine with AND.\n\n"
    "**Paging.** Follow `next_cursor` (or the `Link` header, `rel=\"next\"`): every page costs the same "
    "at any depth, and cases created while paging never make a page repeat or skip one that existed "
    "when paging started. `offset` still works up to 1000; deeper answers 400 `offset_too_deep`.\n\n"
    "**Total.** `total` is null unless `include_total=true`, since counting every match is not free."
)
LIST_RESPONSES = errors(
    400,
    401,
    422,
    e400="A malformed X-User-* header, an `offset` above 1000 (`offset_too_deep`), or a cursor that was "
    "altered, is not ours, or was issued for other filters, search or sort (`invalid_cursor`).",
)
_LINK_HEADER = {
    "Link": {
        "description": 'The next page: `<https://.../api/v1/cases?...&cursor=...>; rel="next"`. Absent on the last page.',
        "schema": {"type": "string"},
    }
}


@router.get(
    "",
    response_model=CaseList,
    responses={**LIST_RESPONSES, 200: {"headers": _LINK_HEADER}},
    summary="List and search the caller's cases",
    description=LIST_DESCRIPTION,
)
async def list_cases(
    request: Request, ctx: ContextDep, service: CaseQueriesDep, listing: CaseListingDep
) -> JSONResponse:
    query = listing.for_user(ctx.actor.user_id)
    return list_response(request, listing, query, await service.list_cases(ctx, query))


@router.get(
    "/session/{session_id}",
    response_model=CaseList,
    responses={**LIST_RESPONSES, 200: {"headers": _LINK_HEADER}},
    summary="List the caller's cases linked to a session",
    description="The parameters and body of `GET /api/v1/cases`, limited to the session in the path "
    "(it replaces any `session_id` parameter).",
)
async def list_session_cases(
    session_id: str, request: Request, ctx: ContextDep, service: CaseQueriesDep, listing: CaseListingDep
) -> JSONResponse:
    in_session = query_value(normalize_session_id, session_id, "session_id", "path")
    listing = listing.within_session(in_session)
    query = listing.for_user(ctx.actor.user_id)
    return list_response(request, listing, query, await service.list_cases(ctx, query))


@router.get(
    "/stats",
    response_model=CaseStatsRead,
    responses=errors(400, 401, 422),
    summary="Dashboard counts over the caller's cases",
    description="Takes the filters and search of `GET /api/v1/cases` and counts the cases they select, "
    "all in the database: by status, severity and category, the top tags, open against resolved, "
    "cases created per UTC day over the last `days` days, and the mean and median time from creation "
    "to resolution.",
)
async def case_stats(
    ctx: ContextDep,
    service: CaseQueriesDep,
    filters: CaseFiltersDep,
    days: Annotated[int, Query(ge=1, le=366, description="Window of `created_per_day`, today included.")] = 30,
) -> CaseStatsRead:
    stats, first_day = await service.case_stats(ctx, filters, days)
    return CaseStatsRead.from_domain(stats, first_day, days)


@router.post(
    "/batch",
    response_model=BatchResult,
    responses=errors(400, 401, 422, e422="`case_ids` is empty, holds more than 100 ids, or an id longer than 64."),
    summary="Look up several cases at once",
    description="Answers each id in the order given: the caller's case, or `not_found` when the id is "
    "missing, malformed or another user's (which reads exactly like missing).",
)
async def batch_lookup(body: BatchLookup, ctx: ContextDep, service: CaseQueriesDep) -> BatchResult:
    items = await service.get_cases(ctx, body.case_ids)
    return BatchResult(results=[BatchItemRead.from_domain(item) for item in items])
