"""One handler per kind of failure, all rendering the same error body."""

from __future__ import annotations

import logging
import re
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from case_service.domain.errors import (
    BadRequest,
    ConcurrentModification,
    DomainError,
    Forbidden,
    IdempotencyKeyReused,
    InvalidInput,
    InvalidTransition,
    NotFound,
    PreconditionFailed,
    ReplayFailed,
    ServiceUnavailable,
    SignatureInvalid,
    Unauthenticated,
)

logger = logging.getLogger(__name__)

# Most specific first: the first class the error is an instance of decides the status.
STATUS_BY_ERROR: tuple[tuple[type[DomainError], int], ...] = (
    (BadRequest, 400),
    (Unauthenticated, 401),
    (SignatureInvalid, 401),
    (Forbidden, 403),
    (NotFound, 404),
    (InvalidTransition, 409),
    (ConcurrentModification, 409),
    (ReplayFailed, 409),
    (PreconditionFailed, 412),
    (IdempotencyKeyReused, 422),
    (InvalidInput, 422),
    (ServiceUnavailable, 503),
    (DomainError, 400),
)

_HTTP_CODES = {
    400: "bad_request",
    401: "unauthenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    413: "payload_too_large",
    415: "unsupported_media_type",
    429: "rate_limited",
}


def error_response(
    request: Request,
    status_code: int,
    message: str,
    code: str,
    details: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    body = {
        "error": message,
        "code": code,
        "details": details or {},
        "correlation_id": getattr(request.state, "correlation_id", None),
    }
    return JSONResponse(body, status_code=status_code, headers=headers)


def status_for(error: DomainError) -> int:
    return next(status for kind, status in STATUS_BY_ERROR if isinstance(error, kind))


async def _domain_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, DomainError)
    headers = {"Retry-After": str(exc.retry_after_seconds)} if isinstance(exc, ServiceUnavailable) else None
    return error_response(request, status_for(exc), exc.message, exc.code, exc.details, headers)


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = [_describe(error) for error in exc.errors()]
    malformed = [error for error in errors if error["type"] == "json_invalid"]
    if malformed:
        return error_response(
            request, 400, "The request body is not valid JSON", "malformed_json", {"errors": malformed}
        )
    summary = "; ".join(f"{e['field'] or e['location']}: {e['message']}" for e in errors)
    return error_response(request, 422, f"Invalid request: {summary}", "validation_error", {"errors": errors})


def _describe(error: dict[str, Any]) -> dict[str, Any]:
    location, *path = [str(part) for part in error.get("loc", ())] or ["request"]
    described = {
        "location": location,
        "field": ".".join(path),
        "message": error.get("msg", "invalid value"),
        "type": error.get("type", "value_error"),
    }
    if error.get("type") == "json_invalid":
        described["message"] = f"{error.get('msg')} ({error.get('ctx', {}).get('error', 'syntax error')})"
    return described


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    message = exc.detail if isinstance(exc.detail, str) else "Request failed"
    if exc.status_code == 404 and message == "Not Found":
        message = f"No route matches {request.method} {request.url.path}"
    code = _HTTP_CODES.get(exc.status_code, "http_error")
    headers = dict(exc.headers or {})
    documented = _allowed_methods(request) if exc.status_code == 405 else None
    if documented:
        headers["Allow"] = ", ".join(documented)
    return error_response(request, exc.status_code, message, code, headers=headers)


def _allowed_methods(request: Request) -> list[str] | None:
    """The methods the contract documents for the request's path, the most specific template
    first (`/api/v1/cases/tags` before `/api/v1/cases/{case_id}`); None for an undocumented path.

    Starlette's own `Allow` names only the first route that matched, and here each method of a
    path is a route of its own.
    """
    path = request.url.path
    candidates = []
    for template, operations in request.app.openapi().get("paths", {}).items():
        pattern = re.sub(r"\\\{[^/]+?\\\}", "[^/]+", re.escape(template))
        if re.fullmatch(pattern, path):
            literal = len(re.sub(r"\{[^/]+?\}", "", template))
            candidates.append((literal, sorted(method.upper() for method in operations)))
    return max(candidates)[1] if candidates else None


async def _unexpected_error(request: Request, exc: Exception) -> JSONResponse:
    logger.exception("unhandled error on %s %s", request.method, request.url.path)
    return error_response(request, 500, "The service failed to handle the request", "internal_error")


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(DomainError, _domain_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected_error)
