"""The request guards, in the order a request meets them (all inside CORS, so a browser's
preflight is answered first and every refusal still carries the CORS headers):

1. the gateway signature (when GATEWAY_SHARED_SECRET is set): nobody else speaks for a user or
   an operator (the event ingress, when it has EVENT_INGRESS_SECRET, checks its own signature);
2. the per-user rate limit (when RATE_LIMIT_PER_MINUTE > 0), counted only for verified callers;
3. the body size limit, enforced while the body is read.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from case_service.api.gateway import EVENT_INGRESS_PATH, GatewaySignatureMiddleware, warn_when_unprotected
from case_service.api.idempotency import REPLAYED_HEADER
from case_service.api.limits import BodySizeLimitMiddleware, RateLimitMiddleware
from case_service.config import Settings

# Response headers a browser client may read (CORS `Access-Control-Expose-Headers`).
EXPOSED_RESPONSE_HEADERS = (
    "ETag",
    REPLAYED_HEADER,
    "RateLimit-Limit",
    "RateLimit-Remaining",
    "RateLimit-Reset",
    "Retry-After",
)


def install_request_guards(app: FastAPI, settings: Settings) -> None:
    # add_middleware wraps what was added before: the last one added meets the request first.
    app.add_middleware(BodySizeLimitMiddleware, max_bytes=settings.max_request_body_bytes)
    if settings.rate_limit_per_minute:
        app.add_middleware(RateLimitMiddleware, per_minute=settings.rate_limit_per_minute)
    if settings.gateway_shared_secret is not None:
        app.add_middleware(
            GatewaySignatureMiddleware,
            secret=settings.gateway_shared_secret.get_secret_value(),
            max_skew_seconds=settings.gateway_max_skew_seconds,
            exempt=frozenset({EVENT_INGRESS_PATH}) if settings.event_ingress_secret is not None else frozenset(),
        )
    else:
        warn_when_unprotected(settings)


_ERROR_BODY = {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}}
_CROSS_CUTTING_RESPONSES = {
    "413": "The body is larger than MAX_REQUEST_BODY_BYTES; nothing was parsed or changed.",
    "429": "Over RATE_LIMIT_PER_MINUTE for this user (only when rate limiting is on); see `Retry-After`.",
    "503": "The database did not answer in time (`database_unavailable`); nothing changed. Retry later.",
}


def document_cross_cutting_responses(schema: dict[str, Any]) -> None:
    """Answers no route declares because they come from outside it (the guards, the database
    going away): 413 where a body is taken, 429 and 503 on every `/api/v1` operation."""
    for path, operations in schema.get("paths", {}).items():
        if not path.startswith("/api/v1"):
            continue
        for operation in operations.values():
            responses = operation.setdefault("responses", {})
            codes = ["429", "503"] if "requestBody" not in operation else ["413", "429", "503"]
            for code in codes:
                responses.setdefault(code, {"description": _CROSS_CUTTING_RESPONSES[code], "content": _ERROR_BODY})
            if "429" in responses:
                responses["429"]["headers"] = {
                    "Retry-After": {"description": "Seconds to wait.", "schema": {"type": "integer"}}
                }
