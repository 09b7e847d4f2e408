"""Request-scoped plumbing that runs before routing: the correlation id."""

from __future__ import annotations

import re
import uuid
from contextvars import ContextVar

from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

CORRELATION_HEADER = "X-Correlation-ID"
_ACCEPTED = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")

correlation_id_var: ContextVar[str | None] = ContextVar("correlation_id", default=None)


class CorrelationIdMiddleware:
    """Takes `X-Correlation-ID` (or `X-Request-ID`) from the caller, or makes one, and echoes it.

    A value that is too long or holds characters unsafe for logs and headers is replaced, not
    trusted: the caller still gets the id the service used, in the response header. The id made
    for a request that brings none is its trace id (set by the telemetry middleware outside this
    one), so logs, spans and events of the request share one id.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        given = headers.get("x-correlation-id") or headers.get("x-request-id") or ""
        state = scope.setdefault("state", {})
        correlation_id = given if _ACCEPTED.match(given) else state.get("trace_id") or uuid.uuid4().hex
        state["correlation_id"] = correlation_id
        token = correlation_id_var.set(correlation_id)

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                MutableHeaders(scope=message)[CORRELATION_HEADER] = correlation_id
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            correlation_id_var.reset(token)
