"""The case list parameters, shared by every route that lists or counts cases.

`CaseFilterParams` holds the filters and the search (the stats route takes them, with `days`);
`CaseListParams` adds order, page, cursor, total and fields. A parameter added here is accepted by
`GET /api/v1/cases`, `/api/v1/cases/session/{session_id}`, `/api/v1/users/{user_id}/cases` (and,
for filters, `/api/v1/cases/stats`) alike, and documented on each. The routes read them with
`read_query` rather than as FastAPI parameters: see `api/query_params.py`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import Request
from fastapi.responses import Response
from pydantic import AwareDatetime, BeforeValidator, Field

from case_service.api.cursor import CursorCodec
from case_service.api.deps import LIMIT_TEXT, MAX_OFFSET, OFFSET_TEXT, page_of
from case_service.api.json_body import dump_json
from case_service.api.query_params import QueryModel, read_query
from case_service.api.schemas import CaseRead, case_fields
from case_service.domain.case import CaseStatus, Category, Severity, normalize_session_id, normalize_tag
from case_service.domain.errors import BadRequest, InvalidInput, OffsetTooDeep
from case_service.domain.queries import MOST_RELEVANT_FIRST, NEWEST_FIRST, CasePage, CaseQuery, CaseSort
from case_service.domain.search import Q_MAX_LENGTH, parse_search
from case_service.service.context import RequestContext

# Past this offset a page is refused: the cursor reads any depth at the cost of the first page.
MAX_LIST_OFFSET = 1000
CASE_FIELDS = tuple(CaseRead.model_fields)


class SearchScope(StrEnum):
    CASES = "cases"
    MESSAGES = "messages"


def _time_bound(name: str) -> Any:
    return Field(
        None,
        description=f"ISO 8601 with a UTC offset (`2026-11-15T10:30:00Z`); a time without offset is refused. "
        f"{'Inclusive' if name.endswith('after') else 'Exclusive'}.",
    )


def _iso_8601_only(value: object) -> object:
    """pydantic also reads a bare number as Unix seconds; the contract promises ISO 8601 only."""
    if isinstance(value, str) and _BARE_NUMBER.fullmatch(value.strip()):
        raise ValueError("must be an ISO 8601 date-time with a UTC offset, not a number")
    return value


_BARE_NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")
TimeBound = Annotated[AwareDatetime, BeforeValidator(_iso_8601_only)] | None


class CaseFilterParams(QueryModel):
    """The caller's filters. Different filters combine with AND; a repeated one matches any value."""

    status: list[CaseStatus] | None = None
    severity: list[Severity] | None = None
    category: list[Category] | None = None
    tag: list[str] | None = Field(None, description="Matched after normalization (trimmed, lower-cased).")
    session_id: list[str] | None = None
    created_after: TimeBound = _time_bound("created_after")
    created_before: TimeBound = _time_bound("created_before")
    updated_after: TimeBound = _time_bound("updated_after")
    updated_before: TimeBound = _time_bound("updated_before")
    resolved: bool | None = Field(None, description="`true`: cases with a `resolved_at`; `false`: cases without one.")
    has_session: bool | None = Field(None, description="Whether the case is linked to a session.")
    q: str | None = Field(
        None,
        max_length=Q_MAX_LENGTH,
        description='Full-text search over title, tags and description: every word must match; `word*` '
        'matches words starting with `word`; `"a phrase"` matches the words in that order within one '
        "field. Case-insensitive; punctuation separates words. Malformed syntax (an unbalanced quote, a "
        "lone `*`, nothing to search for) answers 422.",
        examples=['timeout "connection pool" check*'],
    )
    in_: SearchScope = Field(
        SearchScope.CASES,
        alias="in",
        description="`messages`: a case also matches when one of its messages matches `q`.",
    )


class CaseListParams(CaseFilterParams):
    """A list's parameters: the filters, then order, cursor, total, fields and page."""

    sort: str | None = Field(
        None,
        description="`created_at`, `updated_at`, `severity` (by rank: low < medium < high < critical), "
        "`status` (by workflow: active < investigating < resolved < closed < archived), `title` "
        "(by code point, so upper case before lower case) or, with `q`, `relevance`; a `-` prefix sorts "
        "descending. Ties follow creation order in the same direction. Default: `-relevance` with `q`, "
        "else `-created_at`.",
        examples=["-severity"],
    )
    cursor: str | None = Field(
        None,
        description="`next_cursor` of the previous page. Send it with the same filters, search and sort "
        "(`limit` and `fields` may change); anything else answers 400. Not combinable with `offset`.",
    )
    include_total: bool = Field(
        False, description="Count every matching case into `total` (costs a count over all of them)."
    )
    fields: list[str] | None = Field(
        None,
        description="Return only these fields of each case (comma-separated or repeated); `case_id` is "
        "always included. Unknown names answer 422.",
        examples=["title,status,severity"],
    )
    limit: int | None = Field(None, ge=1, description=LIMIT_TEXT)
    offset: int = Field(0, ge=0, le=MAX_OFFSET, description=OFFSET_TEXT)


class CaseStatsParams(CaseFilterParams):
    """The stats route's parameters: the filters, and the window of `created_per_day`."""

    days: int = Field(30, ge=1, le=366, description="Window of `created_per_day`, today included.")


# The models whose parameters the document lists, for its components (`query_definitions`).
QUERY_MODELS = (CaseListParams, CaseStatsParams)


def case_filters(ctx: RequestContext, params: CaseFilterParams) -> CaseQuery:
    """The caller's filters and search, as a query on the caller's cases."""
    search = parse_search(params.q) if params.q is not None else None
    if params.in_ is SearchScope.MESSAGES and search is None:
        raise InvalidInput("in", "searching messages needs q", location="query")
    return CaseQuery(
        user_id=ctx.actor.user_id,
        statuses=tuple(s.value for s in params.status or ()),
        severities=tuple(s.value for s in params.severity or ()),
        categories=tuple(c.value for c in params.category or ()),
        tags=tuple(query_value(normalize_tag, value, "tag", "query") for value in params.tag or ()),
        session_ids=tuple(
            query_value(normalize_session_id, value, "session_id", "query") for value in params.session_id or ()
        ),
        created_after=_utc(params.created_after, "created_after"),
        created_before=_utc(params.created_before, "created_before"),
        updated_after=_utc(params.updated_after, "updated_after"),
        updated_before=_utc(params.updated_before, "updated_before"),
        resolved=params.resolved,
        has_session=params.has_session,
        search=search,
        search_messages=params.in_ is SearchScope.MESSAGES,
    )


@dataclass(frozen=True)
class CaseListing:
    """A list request: the query (for the caller; routes listing another user retarget it), the
    cursor it continues, and the fields to return (None: all)."""

    query: CaseQuery
    cursor: str | None
    fields: tuple[str, ...] | None
    cursors: CursorCodec

    def within_session(self, session_id: str) -> CaseListing:
        return replace(self, query=replace(self.query, session_ids=(session_id,)))

    def for_user(self, user_id: str) -> CaseQuery:
        """The query on `user_id`'s cases, resumed at the cursor's position."""
        query = replace(self.query, user_id=user_id)
        if self.cursor is None:
            return query
        return replace(query, after=self.cursors.decode(self.cursor, query))


def case_listing(request: Request, ctx: RequestContext) -> CaseListing:
    """The request's list parameters, checked: a cursor or an offset (not both, the offset at most
    MAX_LIST_OFFSET), a known sort and known fields."""
    params = read_query(request, CaseListParams)
    filters = case_filters(ctx, params)
    page = page_of(request.app.state.settings, params.limit, params.offset)
    searching = filters.search is not None
    order = CaseSort.parse(params.sort, searching=searching) if params.sort is not None else None
    if page.offset > MAX_LIST_OFFSET:
        raise OffsetTooDeep(
            f"offset may be at most {MAX_LIST_OFFSET}; page deeper with `cursor` (each page's `next_cursor`)",
            parameter="offset",
            max_offset=MAX_LIST_OFFSET,
        )
    if params.cursor is not None and page.offset:
        raise BadRequest("give either cursor or offset, not both", parameter="cursor")
    query = replace(
        filters,
        sort=order or (MOST_RELEVANT_FIRST if searching else NEWEST_FIRST),
        limit=page.limit,
        offset=page.offset,
        include_total=params.include_total,
    )
    cursors: CursorCodec = request.app.state.cursors
    return CaseListing(query=query, cursor=params.cursor, fields=_fields(params.fields), cursors=cursors)


def list_response(request: Request, listing: CaseListing, query: CaseQuery, found: CasePage) -> Response:
    """The list body, and a `Link: <...>; rel="next"` header when there is a next page.

    The body is `CaseList`'s, written from the cases' fields without building the models: for a
    page of 50 cases, the models cost seven times the writing (`api/json_body.py`)."""
    next_cursor = listing.cursors.encode(query, found.next_position) if found.next_position else None
    cases = [case_fields(case) for case in found.cases]
    if listing.fields is not None:
        keep = set(listing.fields)
        cases = [{name: value for name, value in case.items() if name in keep} for case in cases]
    body = {
        "cases": cases,
        "total": found.total,
        "total_included": found.total is not None,
        "limit": query.limit,
        "offset": query.offset,
        "next_cursor": next_cursor,
    }
    headers = {}
    if next_cursor is not None:
        params = [(k, v) for k, v in request.query_params.multi_items() if k not in ("cursor", "offset")]
        headers["Link"] = f'<{request.url.replace(query=urlencode([*params, ("cursor", next_cursor)]))}>; rel="next"'
    return Response(dump_json(body), media_type="application/json", headers=headers)


def query_value(normalize: Callable[[str], str | None], value: str, name: str, location: str) -> str:
    """Normalize a query or path value with the domain's rule, reporting errors where they came from."""
    try:
        normalized = normalize(value)
    except InvalidInput as error:
        raise InvalidInput(name, error.details["errors"][0]["message"], location=location) from None
    assert normalized is not None
    return normalized


def _fields(values: list[str] | None) -> tuple[str, ...] | None:
    if values is None:
        return None
    names = [name.strip() for value in values for name in value.split(",") if name.strip()]
    unknown = sorted({name for name in names if name not in CASE_FIELDS})
    if unknown:
        raise InvalidInput(
            "fields", f"unknown field(s) {', '.join(unknown)}; known: {', '.join(CASE_FIELDS)}", location="query"
        )
    return tuple(dict.fromkeys(["case_id", *names]))


def _utc(value: datetime | None, name: str) -> datetime | None:
    if value is None:
        return None
    try:
        return value.astimezone(UTC)
    except OverflowError:
        raise InvalidInput(name, "is out of range once converted to UTC", location="query") from None
