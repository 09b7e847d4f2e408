"""Case routes: translate HTTP to use-case calls and back. No rules and no SQL here."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Request, Response, status
from starlette.convertors import StringConvertor, register_url_convertor

from case_service.api.conditional import (
    ETAG_HEADER_DOC,
    IfMatchDep,
    case_etag,
    if_none_match_parameter,
    not_modified,
    set_case_etag,
)
from case_service.api.deps import (
    CaseServiceDep,
    ContextDep,
    caller_header_parameters,
    case_service_of,
    get_request_context,
    path_parameter,
)
from case_service.api.idempotency import IDEMPOTENCY_HEADERS_DOC, IdempotencyKeyDep, idempotent, json_answer, send
from case_service.api.merge_patch import MERGE_PATCH_REQUEST_BODY, read_merge_patch
from case_service.api.json_body import dump_json
from case_service.api.schemas import CaseCreate, CaseRead, CaseUpdate, ErrorBody, StatusChange, case_fields
from case_service.domain.case import TRANSITIONS, Case
from case_service.service.cases import NewCase
from case_service.service.idempotency import StoredResponse

router = APIRouter(prefix="/api/v1/cases", tags=["cases"])

# The fixed names beside a case id under /api/v1/cases: `GET /tags`, `GET /stats`, `POST /batch`.
FIXED_SEGMENTS = ("tags", "stats", "batch")


class CaseIdSegment(StringConvertor):
    """`{case_id:case}`: one path segment, but not one of FIXED_SEGMENTS.

    The by-id routes use it so that they can be tried before the routers that own those names
    (main.py): FastAPI 0.165 pays for every route it tries before the one that matches, and GET by
    id is the read called most (bench/PROFILE.md §21). Any other segment reaches the route as
    before, and an id of the wrong shape still answers 404."""

    regex = rf"(?!(?:{'|'.join(FIXED_SEGMENTS)})$)[^/]+"


register_url_convertor("case", CaseIdSegment())
BY_ID = "/{case_id:case}"

_ERROR_TEXT = {
    400: "Malformed request: invalid JSON, or an ambiguous or malformed X-User-* header.",
    401: "X-User-ID is missing or blank, or (with GATEWAY_SHARED_SECRET) the gateway signature is missing, stale "
    "or wrong.",
    403: "The caller lacks the `admin` or `platform-service` role this operator route requires.",
    404: "No such case, or the case belongs to another user.",
    409: "The status machine does not allow this move; the body names the current status and the allowed targets.",
    412: "`If-Match` names a version the case is no longer at; `details.current_version` is the current one. "
    "Nothing changed.",
    415: "The body's Content-Type is not the one this operation takes.",
    422: "A field or parameter is invalid; `details.errors` names each one.",
}


IDEMPOTENT_422 = (
    "A field or parameter is invalid (`details.errors` names each one), or the `Idempotency-Key` was "
    "already used for a different request (`idempotency_key_reused`)."
)


def case_answer(description: str = "The case.") -> dict[int | str, dict[str, Any]]:
    """The documented success answer of an operation that answers one case, with its ETag."""
    return {200: {"description": description, "headers": ETAG_HEADER_DOC}}


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


CASE_ID_TEXT = "`case_` followed by 12 lowercase hex digits."
CaseIdPath = Annotated[str, Path(description=CASE_ID_TEXT)]


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=CaseRead,
    responses={
        201: {"description": "The created case.", "headers": {**ETAG_HEADER_DOC, **IDEMPOTENCY_HEADERS_DOC}},
        **errors(400, 401, 422, e422=IDEMPOTENT_422),
    },
    summary="Create a case",
    description=(
        "Creates a case owned by the caller, in status `active`. Without a title the case is named "
        "`Case-MMDD-N`: MMDD is the UTC creation date and N is 1 + the number of cases the caller "
        "already created that day (titled or not). Numbers are never reused for a user and day."
    ),
)
async def create_case(body: CaseCreate, ctx: ContextDep, service: CaseServiceDep, key: IdempotencyKeyDep) -> Response:
    def respond(case: Case) -> StoredResponse:
        return json_answer(201, CaseRead.from_domain(case), version=case.version)

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
        idempotent(key, respond),
    )
    return send(respond(case))


@router.get(
    BY_ID,
    response_model=CaseRead,
    responses={
        **case_answer(),
        304: {"description": "`If-None-Match` names the case's current ETag: unchanged, no body.", "headers": ETAG_HEADER_DOC},
        **errors(400, 401, 404),
    },
    summary="Get a case",
    description="Answers the case with its `ETag`; send it back in `If-None-Match` to get 304 while it is unchanged.",
    openapi_extra={
        "parameters": [
            path_parameter("case_id", "Case Id", CASE_ID_TEXT),
            if_none_match_parameter("An ETag from an earlier answer: 304 without a body while it is still current."),
            *caller_header_parameters(),
        ]
    },
)
async def get_case(request: Request) -> Response:
    """The read called most takes no FastAPI parameter or dependency: FastAPI 0.165 pays for each on
    every request, and these cost a GET 10.6% of its instructions (bench/PROFILE.md §21). It reads
    the path, the caller and `If-None-Match` from the request; `openapi_extra` documents them."""
    ctx = await get_request_context(request)
    case = await case_service_of(request).get_case(ctx, request.path_params["case_id"])
    etag = case_etag(case.version)
    if not_modified(request, etag):
        return Response(status_code=status.HTTP_304_NOT_MODIFIED, headers={"ETag": etag})
    # Written here, from the case's fields as CaseRead has them: returning the model would make
    # FastAPI validate it again, and building it costs more than writing it (`api/json_body.py`).
    return Response(dump_json(case_fields(case)), media_type="application/json", headers={"ETag": etag})


@router.put(
    BY_ID,
    response_model=CaseRead,
    responses={**case_answer(), **errors(400, 401, 404, 412, 422)},
    summary="Update a case",
    description=(
        "Changes the fields present in the body; **fields left out stay unchanged**. `tags` and "
        "`metadata` replace the whole list or object. `session_id: null` unlinks the session. Status "
        "cannot be changed here: use `POST /api/v1/cases/{case_id}/status`. A body that changes "
        "nothing leaves the case (and its `version`) as it was.\n\n"
        "PUT or PATCH? PUT replaces `tags` and `metadata` whole and takes `null` only for "
        "`session_id`; PATCH (a JSON Merge Patch) merges into `metadata` key by key and takes `null` "
        "to clear `description`, `session_id`, `tags`, `metadata` or one metadata key. Both validate "
        "fields alike and both take `If-Match`."
    ),
)
async def update_case(
    case_id: CaseIdPath,
    body: CaseUpdate,
    ctx: ContextDep,
    service: CaseServiceDep,
    precondition: IfMatchDep,
    response: Response,
) -> CaseRead:
    changes = body.model_dump(exclude_unset=True, mode="json")
    case = await service.update_case(ctx, case_id, changes, precondition)
    set_case_etag(response, case.version)
    return CaseRead.from_domain(case)


@router.patch(
    BY_ID,
    response_model=CaseRead,
    responses={**case_answer(), **errors(400, 401, 404, 412, 415, 422)},
    openapi_extra={"requestBody": MERGE_PATCH_REQUEST_BODY},
    summary="Change a case with a JSON Merge Patch",
    description=(
        "A JSON Merge Patch (RFC 7386), sent as `Content-Type: application/merge-patch+json` (any "
        "other type answers 415). Fields left out stay unchanged; a field with a value replaces "
        "it, except `metadata`, which is merged key by key (`{\"metadata\": {\"region\": null}}` "
        "removes one key). `null` clears `description` (to `\"\"`), `session_id`, `tags` and "
        "`metadata`; `title`, `severity` and `category` cannot be null (422). Values are validated "
        "exactly as in PUT, and status is not changed here. A patch that changes nothing leaves the "
        "case and its `version` as they were."
    ),
)
async def patch_case(
    case_id: CaseIdPath,
    request: Request,
    ctx: ContextDep,
    service: CaseServiceDep,
    precondition: IfMatchDep,
    response: Response,
) -> CaseRead:
    patch = await read_merge_patch(request)
    case = await service.patch_case(ctx, case_id, patch, precondition)
    set_case_etag(response, case.version)
    return CaseRead.from_domain(case)


@router.delete(
    BY_ID,
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    responses=errors(400, 401, 404, 412),
    summary="Delete a case",
    description=(
        "Deletes the case with its tags, status moves, messages and history; afterwards every read "
        "answers 404. One history row stays as a tombstone, outside the API: who deleted the case, "
        "when, and under which correlation id."
    ),
)
async def delete_case(
    case_id: CaseIdPath, ctx: ContextDep, service: CaseServiceDep, precondition: IfMatchDep
) -> Response:
    await service.delete_case(ctx, case_id, precondition)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/{case_id}/status",
    response_model=CaseRead,
    responses={
        200: {"description": "The case.", "headers": {**ETAG_HEADER_DOC, **IDEMPOTENCY_HEADERS_DOC}},
        **errors(400, 401, 404, 409, 412, 422, e422=IDEMPOTENT_422),
    },
    summary="Change a case's status",
    description=(
        "Moves the case through its status machine. Entering `resolved` sets `resolved_at`; moving "
        "back to `investigating` or `active` clears it. A move not in the table answers 409 and "
        "changes nothing.\n\n" + transition_table()
    ),
)
async def change_status(
    case_id: CaseIdPath,
    body: StatusChange,
    ctx: ContextDep,
    service: CaseServiceDep,
    precondition: IfMatchDep,
    key: IdempotencyKeyDep,
) -> Response:
    def respond(case: Case) -> StoredResponse:
        return json_answer(200, CaseRead.from_domain(case), version=case.version)

    case = await service.change_status(
        ctx, case_id, body.status.value, body.reason, precondition, idempotent(key, respond)
    )
    return send(respond(case))
