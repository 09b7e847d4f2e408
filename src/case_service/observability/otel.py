"""Optional OpenTelemetry export of each request's span (install the `otel` extra).

Off unless the standard variables ask for it: `OTEL_TRACES_EXPORTER` (`otlp` or `console`) or an
OTLP endpoint, and not `OTEL_SDK_DISABLED=true`. The SDK is imported only then, so the service has
no OpenTelemetry dependency when export is off. The SDK itself reads the other `OTEL_*` variables
(headers, timeouts, sampler, resource attributes).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from case_service import __version__
from case_service.observability.tracing import TraceContext

if TYPE_CHECKING:
    from case_service.config import Settings


class SpanExport:
    """Starts one server span per request, child of the caller's trace, and exports it."""

    def __init__(self, settings: Settings) -> None:
        try:
            from opentelemetry import trace
            from opentelemetry.sdk.resources import Resource
            from opentelemetry.sdk.trace import TracerProvider
            from opentelemetry.sdk.trace.export import BatchSpanProcessor
        except ImportError as exc:  # pragma: no cover - the message is the point
            raise RuntimeError(
                "OpenTelemetry export is configured (OTEL_*) but the SDK is missing: "
                "install fm-case-service[otel]"
            ) from exc
        self._trace = trace
        resource = Resource.create({"service.name": settings.service_name, "service.version": __version__})
        self._provider = TracerProvider(resource=resource)
        self._provider.add_span_processor(BatchSpanProcessor(_exporter(settings)))
        self._tracer = self._provider.get_tracer("case_service")

    def start(self, trace: TraceContext, method: str) -> tuple[TraceContext, Any]:
        """The exported span, and the trace context naming it (its ids replace ours)."""
        api = self._trace
        parent = None
        if trace.parent_span_id is not None:
            remote = api.SpanContext(
                trace_id=int(trace.trace_id, 16),
                span_id=int(trace.parent_span_id, 16),
                is_remote=True,
                trace_flags=api.TraceFlags(int(trace.flags, 16)),
            )
            parent = api.set_span_in_context(api.NonRecordingSpan(remote))
        span = self._tracer.start_span(method, context=parent, kind=api.SpanKind.SERVER)
        own = span.get_span_context()
        context = TraceContext(
            trace_id=format(own.trace_id, "032x"),
            span_id=format(own.span_id, "016x"),
            flags=format(int(own.trace_flags), "02x"),
            parent_span_id=trace.parent_span_id,
            tracestate=trace.tracestate,
        )
        return context, span

    def end(self, span: Any, method: str, route: str, status: int) -> None:
        span.update_name(f"{method} {route}")
        span.set_attribute("http.request.method", method)
        span.set_attribute("http.route", route)
        span.set_attribute("http.response.status_code", status)
        if status >= 500:
            span.set_status(self._trace.Status(self._trace.StatusCode.ERROR))
        span.end()

    def shutdown(self) -> None:
        """Flush what is buffered (at application shutdown)."""
        self._provider.shutdown()


def span_export(settings: Settings) -> SpanExport | None:
    return SpanExport(settings) if settings.otel_export_enabled else None


def _exporter(settings: Settings) -> Any:
    if settings.otel_traces_exporter == "console":
        from opentelemetry.sdk.trace.export import ConsoleSpanExporter

        return ConsoleSpanExporter()
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    # With no argument the exporter reads OTEL_EXPORTER_OTLP[_TRACES]_ENDPOINT itself; a value
    # from .env (which the SDK does not read) is passed on, with the signal path the spec adds.
    if settings.otel_exporter_otlp_endpoint:
        return OTLPSpanExporter(endpoint=settings.otel_exporter_otlp_endpoint.rstrip("/") + "/v1/traces")
    return OTLPSpanExporter()
