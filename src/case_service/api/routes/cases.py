"""Case routes: translate HTTP to use-case calls and back. No rules and no SQL here."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Response, status

from case_service.api.deps import CaseServiceDep, ContextDep, PageDep
from case_service.api.schemas import CaseCreate, CaseList, CaseRead, CaseUpdate, ErrorBody, StatusChange
from case_service.domain.case import (
    TRANSITIONS,
    CaseStatus,
    Category,
    Severity,
    normalize_session_id,
    normalize_tag,
)
from case_service.domain.errors import InvalidInput
from case_service.domain.queries import CasePage, CaseQuery
from case_service.service.cases import NewCase

router = APIRouter(prefix="/api/v1/cases", tags=["cases"])

_ERROR_TEXT = {
    400: "Malformed request: invalid JSON, or an ambiguous or malformed X-User-* header.",
    401: "X-User-ID is missing or blank.",
    403: "The caller lacks the `admin` or `platform-service` role this operator route requires.",
    404: "No such case, or the case belongs to another user.",
    409: "The status machine does not allow this move; the body names the current status and the allowed targets.",
    422: "A field or parameter is invalid; `details.errors` names each one.",
}


def errors(*codes: int, **texts: str) -> dict[int | str, dict[str, Any]]:
    """Documented error responses; `texts` overrides a default description (`e404="..."`)."""
    return {
        code: {"model": ErrorBody, "description": texts.get(f"e{code}", _ERROR_TEXT[code])} for code in codes
    }


def transition_table() -> str:
    rows = "\n".join(
        f"| `{source}` | {', '.join(f'`{target}`' for target in targets) or '— (terminal)'} |"
        for source, targets in TRANSITIONS.items()
    )
    return "| from | allowed targets |\n|---|---|\n" + rows


CaseIdPath = Annotated[str, Path(description="`case_` followed by 12 lowercase hex digits.")]


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=CaseRead,
    responses=errors(400, 401, 422),
    summary="Create a case",
    description=(
        "Creates a case owned by the caller, in status `active`. Without a title the case is named "
        "`Case-MMDD-N`: MMDD is the UTC creation date and N is 1 + the number of cases the caller "
        "already created that day (titled or not). Numbers are never reused for a user and day."
    ),
)
async def create_case(body: CaseCreate, ctx: ContextDep, service: CaseServiceDep) -> CaseRead:
    case = await service.create_case(
        ctx,
        NewCase(
            title=body.title,
            description=body.description,
            severity=body.severity.value,
            category=body.category.value,
            metadata=body.metadata,
            tags=tuple(body.tags),
            session_id=body.session_id,
        ),
    )
    return CaseRead.from_domain(case)


def case_list_query(
    ctx: ContextDep,
    page: PageDep,
    status_: Annotated[list[CaseStatus] | None, Query(alias="status")] = None,
    severity: Annotated[list[Severity] | None, Query()] = None,
    category: Annotated[list[Category] | None, Query()] = None,
    tag: Annotated[list[str] | None, Query(description="Matched after normalization (trimmed, lower-cased).")] = None,
    session_id: Annotated[list[str] | None, Query()] = None,
) -> CaseQuery:
    """The list parameters, shared by `GET /api/v1/cases` and `GET /api/v1/users/{user_id}/cases`
    (a parameter added here is accepted by both). The query is for the caller's own cases."""
    return CaseQuery(
        user_id=ctx.actor.user_id,
        statuses=tuple(s.value for s in status_ or ()),
        severities=tuple(s.value for s in severity or ()),
        categories=tuple(c.value for c in category or ()),
        tags=tuple(_parameter(normalize_tag, value, "tag", "query") for value in tag or ()),
        session_ids=tuple(_parameter(normalize_session_id, value, "session_id", "query") for value in session_id or ()),
        limit=page.limit,
        offset=page.offset,
    )


CaseQueryDep = Annotated[CaseQuery, Depends(case_list_query)]

LIST_DESCRIPTION = (
    "Newest first (cases created in the same instant: the later-created first). Repeat a filter "
    "parameter to match any of several values (`?status=active&status=investigating`); "
    "different filters combine with AND."
)


@router.get(
    "",
    response_model=CaseList,
    responses=errors(400, 401, 422),
    summary="List the caller's cases",
    description=LIST_DESCRIPTION,
)
async def list_cases(ctx: ContextDep, service: CaseServiceDep, query: CaseQueryDep) -> CaseList:
    return case_list_body(await service.list_cases(ctx, query), query)


@router.get(
    "/session/{session_id}",
    response_model=CaseList,
    responses=errors(400, 401, 422),
    summary="List the caller's cases linked to a session",
)
async def list_session_cases(session_id: str, ctx: ContextDep, service: CaseServiceDep, page: PageDep) -> CaseList:
    query = CaseQuery(
        user_id=ctx.actor.user_id,
        session_ids=(_parameter(normalize_session_id, session_id, "session_id", "path"),),
        limit=page.limit,
        offset=page.offset,
    )
    return case_list_body(await service.list_cases(ctx, query), query)


@router.get("/{case_id}", response_model=CaseRead, responses=errors(400, 401, 404), summary="Get a case")
async def get_case(case_id: CaseIdPath, ctx: ContextDep, service: CaseServiceDep) -> CaseRead:
    return CaseRead.from_domain(await service.get_case(ctx, case_id))


@router.put(
    "/{case_id}",
    response_model=CaseRead,
    responses=errors(400, 401, 404, 422),
    summary="Update a case",
    description=(
        "Changes the fields present in the body; **fields left out stay unchanged**. `tags` and "
        "`metadata` replace the whole list or object. `session_id: null` unlinks the session. Status "
        "cannot be changed here: use `POST /api/v1/cases/{case_id}/status`. A body that changes "
        "nothing leaves the case (and its `version`) as it was."
    ),
)
async def update_case(case_id: CaseIdPath, body: CaseUpdate, ctx: ContextDep, service: CaseServiceDep) -> CaseRead:
    changes = body.model_dump(exclude_unset=True, mode="json")
    return CaseRead.from_domain(await service.update_case(ctx, case_id, changes))


@router.delete(
    "/{case_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    responses=errors(400, 401, 404),
    summary="Delete a case",
    description=(
        "Deletes the case with its tags, status moves, messages and history; afterwards every read "
        "answers 404. One history row stays as a tombstone, outside the API: who deleted the case, "
        "when, and under which correlation id."
    ),
)
async def delete_case(case_id: CaseIdPath, ctx: ContextDep, service: CaseServiceDep) -> Response:
    await service.delete_case(ctx, case_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/{case_id}/status",
    response_model=CaseRead,
    responses=errors(400, 401, 404, 409, 422),
    summary="Change a case's status",
    description=(
        "Moves the case through its status machine. Entering `resolved` sets `resolved_at`; moving "
        "back to `investigating` or `active` clears it. A move not in the table answers 409 and "
        "changes nothing.\n\n" + transition_table()
    ),
)
async def change_status(
    case_id: CaseIdPath, body: StatusChange, ctx: ContextDep, service: CaseServiceDep
) -> CaseRead:
    case = await service.change_status(ctx, case_id, body.status.value, body.reason)
    return CaseRead.from_domain(case)


def _parameter(normalize: Callable[[str], str | None], value: str, name: str, location: str) -> str:
    """Normalize a query or path value with the domain's rule, reporting errors where they came from."""
    try:
        normalized = normalize(value)
    except InvalidInput as error:
        raise InvalidInput(name, error.details["errors"][0]["message"], location=location) from None
    assert normalized is not None
    return normalized


def case_list_body(found: CasePage, query: CaseQuery) -> CaseList:
    return CaseList(
        cases=[CaseRead.from_domain(case) for case in found.cases],
        total=found.total,
        limit=query.limit,
        offset=query.offset,
    )
