"""Routes that read many cases: list and search, dashboard counts, batch lookup.

Included after the cases router: its by-id routes' `{case_id:case}` leaves `/stats` and `/batch`
to this one (`cases.FIXED_SEGMENTS`).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from case_service.api.deps import (
    CaseQueriesDep,
    ContextDep,
    caller_header_parameters,
    case_queries_of,
    get_request_context,
)
from case_service.api.listing import (
    CaseListParams,
    CaseStatsParams,
    case_filters,
    case_listing,
    list_response,
    query_value,
)
from case_service.api.listing_schemas import BatchItemRead, BatchLookup, BatchResult, CaseStatsRead
from case_service.api.query_params import QueryModel, query_parameters, read_query
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


# The list and stats routes read their query parameters from the request, and all but the per-user
# route (`routes/users.py`) their caller too: as FastAPI parameters and dependencies, they cost a
# page a quarter of its instructions (`api/query_params.py`). `openapi_extra` documents them, after
# any path parameter FastAPI reads.


def read_parameters(model: type[QueryModel], *, caller: bool) -> dict[str, list[dict[str, Any]]]:
    """The `openapi_extra` of a route that reads `model`: its query parameters, then the caller's
    headers if the route reads them itself."""
    return {"parameters": [*query_parameters(model), *(caller_header_parameters() if caller else ())]}


@router.get(
    "",
    response_model=CaseList,
    responses={**LIST_RESPONSES, 200: {"headers": _LINK_HEADER}},
    summary="List and search the caller's cases",
    description=LIST_DESCRIPTION,
    openapi_extra=read_parameters(CaseListParams, caller=True),
)
async def list_cases(request: Request) -> Response:
    ctx = await get_request_context(request)
    listing = case_listing(request, ctx)
    query = listing.for_user(ctx.actor.user_id)
    return list_response(request, listing, query, await case_queries_of(request).list_cases(ctx, query))


@router.get(
    "/session/{session_id}",
    response_model=CaseList,
    responses={**LIST_RESPONSES, 200: {"headers": _LINK_HEADER}},
    summary="List the caller's cases linked to a session",
    description="The parameters and body of `GET /api/v1/cases`, limited to the session in the path "
    "(it replaces any `session_id` parameter).",
    openapi_extra=read_parameters(CaseListParams, caller=True),
)
async def list_session_cases(session_id: str, request: Request) -> Response:
    ctx = await get_request_context(request)
    in_session = query_value(normalize_session_id, session_id, "session_id", "path")
    listing = case_listing(request, ctx).within_session(in_session)
    query = listing.for_user(ctx.actor.user_id)
    return list_response(request, listing, query, await case_queries_of(request).list_cases(ctx, query))


@router.get(
    "/stats",
    response_model=CaseStatsRead,
    responses=errors(400, 401, 422),
    summary="Dashboard counts over the caller's cases",
    description="Takes the filters and search of `GET /api/v1/cases` and counts the cases they select, "
    "all in the database: by status, severity and category, the top tags, open against resolved, "
    "cases created per UTC day over the last `days` days, and the mean and median time from creation "
    "to resolution.",
    openapi_extra=read_parameters(CaseStatsParams, caller=True),
)
async def case_stats(request: Request) -> CaseStatsRead:
    ctx = await get_request_context(request)
    params = read_query(request, CaseStatsParams)
    stats, first_day = await case_queries_of(request).case_stats(ctx, case_filters(ctx, params), params.days)
    return CaseStatsRead.from_domain(stats, first_day, params.days)


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
