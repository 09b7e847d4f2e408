"""Conversation routes: append a message to a case, read the conversation."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response, status

from case_service.api.conditional import IfMatchDep
from case_service.api.deps import CaseServiceDep, ContextDep, PageDep
from case_service.api.idempotency import IDEMPOTENCY_HEADERS_DOC, IdempotencyKeyDep, idempotent, json_answer, send
from case_service.api.routes.cases import IDEMPOTENT_422, CaseIdPath, errors
from case_service.api.schemas import MessageCreate, MessageList, MessageRead
from case_service.domain.messages import Message
from case_service.service.idempotency import StoredResponse

router = APIRouter(prefix="/api/v1/cases", tags=["messages"])


@router.post(
    "/{case_id}/messages",
    status_code=status.HTTP_201_CREATED,
    response_model=MessageRead,
    responses={
        201: {"description": "The message.", "headers": IDEMPOTENCY_HEADERS_DOC},
        **errors(400, 401, 404, 412, 422, e422=IDEMPOTENT_422),
    },
    summary="Add a message to a case's conversation",
    description=(
        "Appends the message at the next `sequence` (1, 2, 3, ... per case: concurrent appends get "
        "distinct sequences with no gaps). The case's `message_count`, `last_activity_at` and "
        "`version` change; `updated_at` does not. A `case.message.added` event is published "
        "(it refers to the message by id and sequence; it does not carry the content). With "
        "`If-Match`, the message is added only while the case is at that version (the answer is "
        "the message, so it carries no case ETag: the case is now at that version + 1)."
    ),
)
async def add_message(
    case_id: CaseIdPath,
    body: MessageCreate,
    ctx: ContextDep,
    service: CaseServiceDep,
    precondition: IfMatchDep,
    key: IdempotencyKeyDep,
) -> Response:
    def respond(message: Message) -> StoredResponse:
        return json_answer(201, MessageRead.from_domain(message))

    message = await service.add_message(
        ctx,
        case_id,
        role=body.role.value,
        content=body.content,
        metadata=body.metadata,
        precondition=precondition,
        idempotency=idempotent(key, respond),
    )
    return send(respond(message))


@router.get(
    "/{case_id}/messages",
    response_model=MessageList,
    responses=errors(400, 401, 404, 422),
    summary="Read a case's conversation",
    description=(
        "In conversation order (ascending `sequence`). `after` returns only messages with a larger "
        "sequence, so a caller that has seen up to sequence N asks `?after=N` for what is new; "
        "`limit`/`offset` page through the result."
    ),
)
async def list_messages(
    case_id: CaseIdPath,
    ctx: ContextDep,
    service: CaseServiceDep,
    page: PageDep,
    after: Annotated[int, Query(ge=0, le=2**31 - 1, description="Only messages with a larger sequence.")] = 0,
) -> MessageList:
    found = await service.list_messages(ctx, case_id, after=after, limit=page.limit, offset=page.offset)
    return MessageList(
        messages=[MessageRead.from_domain(m) for m in found.messages],
        total=found.total,
        limit=page.limit,
        offset=page.offset,
    )
