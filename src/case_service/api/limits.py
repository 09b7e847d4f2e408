"""Request limits that hold before any parsing: body size, and (optional) requests per user."""

from __future__ import annotations

import math
import time

from limits import RateLimitItemPerMinute
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter
from starlette.datastructures import Headers, MutableHeaders
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from case_service.api.errors import error_response

RATE_LIMITED_PREFIX = "/api/v1/"


class RequestBodyTooLarge(HTTPException):
    """Raised from `receive` once the body passes the limit. An HTTPException so that FastAPI,
    which is reading the body when it happens, hands it on instead of calling it a parse error."""

    def __init__(self, max_bytes: int) -> None:
        super().__init__(413, f"The request body is larger than MAX_REQUEST_BODY_BYTES ({max_bytes} bytes)")


class BodySizeLimitMiddleware:
    """413 for a body over `max_bytes`: at once from Content-Length, or while a chunked body
    without one streams in, before the app has parsed any of it."""

    def __init__(self, app: ASGIApp, *, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        declared = headers.get("content-length")
        if declared is None and "transfer-encoding" not in headers:
            # No body at all (a GET, a DELETE): nothing to count, so nothing is wrapped.
            await self.app(scope, receive, send)
            return
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await self._refuse(scope, receive, send)
            return
        received = 0

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise RequestBodyTooLarge(self.max_bytes)
            return message

        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except RequestBodyTooLarge:
            # Read outside a route (no FastAPI handler caught it): answer here if we still can.
            if started:
                raise
            await self._refuse(scope, receive, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        error = RequestBodyTooLarge(self.max_bytes)
        response = error_response(
            Request(scope), 413, error.detail, "payload_too_large", {"max_bytes": self.max_bytes}
        )
        await response(scope, receive, send)


class RateLimitMiddleware:
    """At most `per_minute` `/api/v1` requests per user (X-User-ID) in any sliding minute.

    Counted in this process's memory (the `limits` library's moving window): with N processes or
    replicas a user gets up to N times the limit. Requests without X-User-ID are not counted (they
    are refused with 401 anyway). Every counted answer carries RateLimit-Limit, RateLimit-Remaining
    and RateLimit-Reset (seconds until a request is free again); a refused one also Retry-After.
    """

    def __init__(self, app: ASGIApp, *, per_minute: int) -> None:
        self.app = app
        self._item = RateLimitItemPerMinute(per_minute)
        self._limiter = MovingWindowRateLimiter(MemoryStorage())

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        user_id = Headers(scope=scope).get("x-user-id") if scope["type"] == "http" else None
        if not user_id or not (scope["path"] + "/").startswith(RATE_LIMITED_PREFIX):
            await self.app(scope, receive, send)
            return
        key = user_id.strip()[:128]
        allowed = self._limiter.hit(self._item, key)
        stats = self._limiter.get_window_stats(self._item, key)
        reset = str(max(1, math.ceil(stats.reset_time - time.time())))
        headers = {
            "RateLimit-Limit": str(self._item.amount),
            "RateLimit-Remaining": str(stats.remaining),
            "RateLimit-Reset": reset,
        }
        if not allowed:
            response = error_response(
                Request(scope),
                429,
                f"More than RATE_LIMIT_PER_MINUTE ({self._item.amount}) requests in a minute; retry after {reset} s",
                "rate_limited",
                {"limit_per_minute": self._item.amount, "retry_after_seconds": int(reset)},
                headers={**headers, "Retry-After": reset},
            )
            await response(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                MutableHeaders(scope=message).update(headers)
            await send(message)

        await self.app(scope, receive, send_with_headers)
