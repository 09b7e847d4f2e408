"""The outermost middleware: trace context, correlation id, request metrics and the access log,
in one pass.

Pure ASGI (no BaseHTTPMiddleware): per request it reads the headers once, reads two clocks, bumps
a cached counter and histogram child and writes at most one log line. Each layer of middleware
costs every request a call and a wrapped `send`, so these share one.
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from typing import Any

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from case_service.observability.logging import request_state_var
from case_service.observability.metrics import Metrics
from case_service.observability.otel import SpanExport
from case_service.observability.tracing import start_span

UNMATCHED_ROUTE = "unmatched"
CORRELATION_HEADER = "X-Correlation-ID"
_CORRELATION_ID = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")
# Request-state key: (name, value) header pairs added to whatever response the request gets,
# errors included (the deprecation notice uses it).
EXTRA_RESPONSE_HEADERS = "extra_response_headers"
# Any other method (HTTP allows any token) is counted as OTHER, so callers cannot mint series.
KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})

access_logger = logging.getLogger("case_service.access")


def route_template(scope: Scope) -> str:
    """The matched route's path template as the OpenAPI document writes it, without convertors
    (`/api/v1/cases/{case_id}`); one label for no match."""
    path = getattr(scope.get("route"), "path_format", None)
    if isinstance(path, str):
        return path
    if "endpoint" in scope and scope.get("root_path"):
        # A mounted app (the docs' static assets): its mount point, not the file asked for.
        return f"{scope['root_path'][len(scope.get('app_root_path', '')):]}/{{path}}"
    return UNMATCHED_ROUTE


class RequestTelemetryMiddleware:
    def __init__(
        self, app: ASGIApp, *, metrics: Metrics, access_log: bool, spans: SpanExport | None = None
    ) -> None:
        self.app = app
        self.metrics = metrics
        self.access_log = access_log
        self.spans = spans
        # (route, method, status) -> (counter child, histogram child): labels() once per series.
        self._series: dict[tuple[str, str, int], tuple[Any, Any]] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        traceparent = None
        tracestate: list[str] = []
        correlation_given = request_id_given = ""
        for name, value in scope["headers"]:
            if name == b"traceparent":
                traceparent = value.decode("latin-1")
            elif name == b"tracestate":
                tracestate.append(value.decode("latin-1"))
            elif name == b"x-correlation-id" and not correlation_given:
                correlation_given = value.decode("latin-1")
            elif name == b"x-request-id" and not request_id_given:
                request_id_given = value.decode("latin-1")
        span = start_span(traceparent, tracestate)
        exported = None
        if self.spans is not None:
            span, exported = self.spans.start(span, scope["method"])
        state = scope.setdefault("state", {})
        state["trace_id"] = span.trace_id
        state["span_id"] = span.span_id
        state["traceparent"] = span.traceparent
        state["tracestate"] = span.tracestate
        correlation_id = _correlation_id(correlation_given or request_id_given, span.trace_id)
        state["correlation_id"] = correlation_id
        token = request_state_var.set(state)
        status = 500
        in_flight = self.metrics.http_in_flight
        in_flight.inc()

        async def send_recording_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                MutableHeaders(scope=message)[CORRELATION_HEADER] = correlation_id
                extra = state.get(EXTRA_RESPONSE_HEADERS)
                if extra:
                    message["headers"] = [*message["headers"], *extra]
            await send(message)

        try:
            await self.app(scope, receive, send_recording_status)
        finally:
            in_flight.dec()
            elapsed = time.perf_counter() - started
            route = route_template(scope)
            method = scope["method"] if scope["method"] in KNOWN_METHODS else "OTHER"
            self._record(route, method, status, elapsed)
            if exported is not None:
                self.spans.end(exported, method, route, status)  # type: ignore[union-attr]
            if self.access_log and access_logger.isEnabledFor(logging.INFO):
                access_logger.info(
                    "%s %s %s",
                    method,
                    route,
                    status,
                    extra={
                        "method": method,
                        "route": route,
                        "path": scope["path"],
                        "status": status,
                        "duration_ms": round(elapsed * 1000, 3),
                    },
                )
            request_state_var.reset(token)

    def _record(self, route: str, method: str, status: int, elapsed: float) -> None:
        key = (route, method, status)
        series = self._series.get(key)
        if series is None:
            labels = {"route": route, "method": method, "status": str(status)}
            series = (
                self.metrics.http_requests.labels(**labels),
                self.metrics.http_request_duration.labels(**labels),
            )
            self._series[key] = series
        series[0].inc()
        series[1].observe(elapsed)


def _correlation_id(given: str, trace_id: str | None) -> str:
    """The caller's `X-Correlation-ID` (or `X-Request-ID`) when it is safe to log and echo; else
    the request's trace id, so logs, spans and events of the request share one id. A value too
    long or holding other characters is replaced, not trusted: the response header tells the
    caller which id the service used."""
    return given if _CORRELATION_ID.match(given) else trace_id or uuid.uuid4().hex
