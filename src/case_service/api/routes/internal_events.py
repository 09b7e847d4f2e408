"""Operator routes of the event inbox: the HTTP ingress and the dead letters."""

from __future__ import annotations

import logging
import time
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request, Response, status

from case_service.api.deps import OperatorContextDep, PageDep, SettingsDep, get_operator_context, get_request_context
from case_service.api.internal_schemas import DeadLetterList, DeadLetterRead, EventReceipt, PlatformEventIn
from case_service.api.routes.cases import errors
from case_service.api.schemas import ErrorBody
from case_service.domain.errors import DomainError, ServiceUnavailable, SignatureInvalid
from case_service.service.platform_events import PlatformEventService
from case_service.signing import SIGNATURE_HEADER, TIMESTAMP_HEADER, SignatureRejected, verify

logger = logging.getLogger(__name__)

router = APIRouter(prefix="/internal/v1", tags=["internal: events"])
# Every way in shares the service's inbox consumer name; this names where a delivery came from.
HTTP_SOURCE = "http"


def get_platform_events(request: Request) -> PlatformEventService:
    service: PlatformEventService = request.app.state.platform_events
    return service


PlatformEventsDep = Annotated[PlatformEventService, Depends(get_platform_events)]
DeadLetterIdPath = Annotated[int, Path(ge=1, le=2**62, description="The dead letter's `id`.")]

_INGRESS_ERRORS: dict[int | str, dict[str, Any]] = {
    **errors(400, 403),
    401: {
        "model": ErrorBody,
        "description": "With EVENT_INGRESS_SECRET set: the signature is missing, stale or does not match "
        "(`invalid_signature`). Without it: X-User-ID is missing.",
    },
    422: {
        "model": ErrorBody,
        "description": "The event cannot be applied: `malformed_event` (not JSON, a field missing or "
        "invalid) or `unsupported_schema_version` (not 1.x). Nothing was recorded.",
    },
    503: {
        "model": ErrorBody,
        "description": "The database failed; nothing was committed. Send the same event again later.",
    },
}


@router.post(
    "/events",
    response_model=EventReceipt,
    responses=_INGRESS_ERRORS,
    summary="Deliver a platform event over HTTP (webhook-style)",
    description=(
        "Takes the same envelope as the broker consumer and applies it through the same inbox, "
        "under the same consumer name: an `event_id` already taken in over a broker, over HTTP or "
        "by a replay answers `outcome: duplicate` and changes nothing, so a sender may retry freely.\n\n"
        "**Authentication.** With `EVENT_INGRESS_SECRET` set, the request must be signed like the "
        f"service's own webhooks: `{TIMESTAMP_HEADER}: <unix seconds>` and "
        f'`{SIGNATURE_HEADER}: sha256=<hex HMAC-SHA256(secret, "<timestamp>." + body)>`, the '
        "timestamp within `EVENT_INGRESS_TOLERANCE` seconds of the server's clock. Without the "
        "secret (development), the caller needs the `admin` or `platform-service` role instead.\n\n"
        "A user's deletion is applied before the answer, batch by batch; if the request is cut "
        "off, sending the event again resumes where it stopped."
    ),
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": PlatformEventIn.model_json_schema()}},
        }
    },
)
async def receive_event(request: Request, settings: SettingsDep, events: PlatformEventsDep) -> EventReceipt:
    body = await request.body()
    secret = settings.event_ingress_secret
    if secret is None:
        await get_operator_context(await get_request_context(request))
    else:
        try:
            verify(
                secret.get_secret_value(),
                request.headers.get(TIMESTAMP_HEADER),
                request.headers.get(SIGNATURE_HEADER),
                body,
                now=time.time(),
                tolerance=settings.event_ingress_tolerance,
            )
        except SignatureRejected as exc:
            raise SignatureInvalid(str(exc), headers=[TIMESTAMP_HEADER, SIGNATURE_HEADER]) from None
    try:
        receipt = await events.receive(body, HTTP_SOURCE)
    except DomainError:
        raise
    except Exception as exc:  # noqa: BLE001 - a failed dependency; the sender retries, nothing committed
        logger.exception("event ingress: applying the event failed")
        raise ServiceUnavailable("The event could not be applied now; send it again later") from exc
    return EventReceipt.from_domain(receipt)


@router.get(
    "/dead-letters",
    response_model=DeadLetterList,
    responses=errors(400, 401, 403, 422),
    summary="Events that could not be applied",
    description=(
        "Newest first. An event lands here at once when it is malformed or of an unknown major "
        "`schema_version`, and after `EVENT_CONSUMER_MAX_ATTEMPTS` failed attempts otherwise."
    ),
)
async def list_dead_letters(_ctx: OperatorContextDep, events: PlatformEventsDep, page: PageDep) -> DeadLetterList:
    found = await events.dead_letters(limit=page.limit, offset=page.offset)
    return DeadLetterList(
        dead_letters=[DeadLetterRead.from_domain(dead) for dead in found.dead_letters],
        total=found.total,
        limit=page.limit,
        offset=page.offset,
    )


@router.post(
    "/dead-letters/{dead_letter_id}/replay",
    response_model=EventReceipt,
    responses={
        **errors(400, 401, 403, 422),
        404: {"model": ErrorBody, "description": "No dead letter with this id."},
        409: {
            "model": ErrorBody,
            "description": "`replay_failed`: the event failed again; its attempts and error were updated.",
        },
    },
    summary="Apply a dead-lettered event again",
    description=(
        "Runs the stored delivery through the inbox like a new delivery: replaying an event that "
        "was already applied (by an earlier replay or a redelivery) answers `outcome: duplicate` "
        "and changes nothing. The dead letter is kept, marked with `replayed_at` and "
        "`replay_outcome`; delete it when done."
    ),
)
async def replay_dead_letter(
    dead_letter_id: DeadLetterIdPath, _ctx: OperatorContextDep, events: PlatformEventsDep
) -> EventReceipt:
    return EventReceipt.from_domain(await events.replay(dead_letter_id))


@router.delete(
    "/dead-letters/{dead_letter_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    responses={**errors(400, 401, 403, 422), 404: {"model": ErrorBody, "description": "No dead letter with this id."}},
    summary="Discard a dead letter",
)
async def delete_dead_letter(
    dead_letter_id: DeadLetterIdPath, _ctx: OperatorContextDep, events: PlatformEventsDep
) -> Response:
    await events.delete_dead_letter(dead_letter_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
