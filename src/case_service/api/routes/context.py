"""The agent's case context: one bounded, deterministic read with an ETag."""

from __future__ import annotations

import hashlib
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response, status

from case_service.api.conditional import if_none_match_doc, not_modified
from case_service.api.deps import CaseServiceDep, ContextDep
from case_service.api.routes.cases import CaseIdPath, errors
from case_service.api.schemas import CaseContextRead
from case_service.domain.queries import (
    CONTEXT_DEFAULT_MAX_CHARS,
    CONTEXT_DEFAULT_MAX_MESSAGES,
    CONTEXT_MAX_CHARS_LIMIT,
    CONTEXT_MAX_MESSAGES_LIMIT,
    ContextBounds,
)

router = APIRouter(prefix="/api/v1/cases", tags=["context"])


@router.get(
    "/{case_id}/context",
    response_model=CaseContextRead,
    responses={
        200: {"headers": {"ETag": {"description": "Changes exactly when the body would.", "schema": {"type": "string"}}}},
        304: {"description": "`If-None-Match` names the current ETag: nothing changed, no body."},
        **errors(400, 401, 404, 422),
    },
    summary="Everything an agent needs about a case, in one call",
    description=(
        "The case, its tags, its status history (oldest first) and its newest messages (oldest "
        "first), bounded: walking back from the newest message, messages are kept while there are "
        "at most `max_messages` of them and their contents total at most `max_chars` characters; "
        "the first message that does not fit ends the window, and `messages.omitted` counts what "
        "was left out. Messages are never cut. The same state and bounds always give the same "
        "bytes and the same `ETag`; send it back in `If-None-Match` to get 304 when nothing "
        "changed. New sections may be added to the body (clients ignore what they do not know)."
    ),
    openapi_extra=if_none_match_doc("An ETag from an earlier answer."),
)
async def case_context(
    request: Request,
    case_id: CaseIdPath,
    ctx: ContextDep,
    service: CaseServiceDep,
    max_messages: Annotated[
        int, Query(ge=0, le=CONTEXT_MAX_MESSAGES_LIMIT, description="At most this many messages.")
    ] = CONTEXT_DEFAULT_MAX_MESSAGES,
    max_chars: Annotated[
        int, Query(ge=0, le=CONTEXT_MAX_CHARS_LIMIT, description="At most this many characters of message content.")
    ] = CONTEXT_DEFAULT_MAX_CHARS,
) -> Response:
    context = await service.case_context(ctx, case_id, ContextBounds(max_messages=max_messages, max_chars=max_chars))
    body = CaseContextRead.from_domain(context).model_dump_json().encode()
    etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
    headers = {"ETag": etag, "Cache-Control": "private, no-cache"}
    if not_modified(request, etag):
        return Response(status_code=status.HTTP_304_NOT_MODIFIED, headers=headers)
    return Response(content=body, media_type="application/json", headers=headers)

