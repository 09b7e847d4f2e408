"""OpenTelemetry export: off (and not even imported) by default; when an OTLP endpoint is set, each
request's span reaches a real OTLP/HTTP receiver as a child of the caller's trace."""

from __future__ import annotations

import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from sqlalchemy import select

from case_service.adapters.tables import event_outbox
from case_service.config import Settings
from case_service.main import create_app
from case_service.observability.tracing import parse_traceparent
from tests.conftest import client_for

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
CALLER_SPAN = "00f067aa0ba902b7"


@pytest.fixture
def receiver() -> Iterator[tuple[str, list[Any]]]:
    """A minimal OTLP/HTTP trace receiver: keeps every span it is sent."""
    spans: list[Any] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - the stdlib's name
            body = self.rfile.read(int(self.headers["Content-Length"]))
            if self.path == "/v1/traces":
                request = ExportTraceServiceRequest.FromString(body)
                for resource_spans in request.resource_spans:
                    for scope_spans in resource_spans.scope_spans:
                        spans.extend((resource_spans.resource, span) for span in scope_spans.spans)
            self.send_response(200)
            self.send_header("Content-Type", "application/x-protobuf")
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", spans
    server.shutdown()
    server.server_close()


async def test_spans_are_exported_to_the_otlp_endpoint_in_the_callers_trace(
    settings: Settings, receiver: tuple[str, list[Any]]
) -> None:
    endpoint, spans = receiver
    app = create_app(settings.model_copy(update={"otel_exporter_otlp_endpoint": endpoint}))
    async with app.router.lifespan_context(app):
        async with client_for(app, traceparent=f"00-{TRACE_ID}-{CALLER_SPAN}-01") as client:
            response = await client.post("/api/v1/cases", json={"title": "traced"})
            assert response.status_code == 201
        case_id = response.json()["case_id"]
        async with app.state.database.connection(write=False) as conn:
            query = select(event_outbox.c.headers).where(event_outbox.c.aggregate_id == case_id)
            (headers,) = (await conn.execute(query)).scalars()
    # Leaving the lifespan flushed the spans.
    (resource, span), = spans
    assert span.trace_id.hex() == TRACE_ID and span.parent_span_id.hex() == CALLER_SPAN
    assert span.name == "POST /api/v1/cases"
    attributes = {a.key: (a.value.string_value or a.value.int_value) for a in span.attributes}
    assert attributes == {"http.request.method": "POST", "http.route": "/api/v1/cases", "http.response.status_code": 201}
    assert {a.key: a.value.string_value for a in resource.attributes}["service.name"] == "fm-case-service"
    # The event carries the exported span as its parent: consumers join the same trace.
    forwarded = parse_traceparent(headers["traceparent"])
    assert forwarded is not None and (forwarded.trace_id, forwarded.span_id) == (TRACE_ID, span.span_id.hex())


def test_export_is_off_by_default_and_the_service_runs_without_opentelemetry(settings: Settings) -> None:
    assert not settings.otel_export_enabled
    assert not settings.model_copy(update={"otel_exporter_otlp_endpoint": "http://x", "otel_sdk_disabled": True}).otel_export_enabled
    assert not settings.model_copy(update={"otel_traces_exporter": "none"}).otel_export_enabled
    # The app is built and serves a request with the SDK and exporters unimportable, as on an
    # install without the `otel` extra (FastAPI itself requires only the OpenTelemetry API).
    script = f"""
import asyncio, importlib.abc, sys

class NotInstalled(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.startswith(("opentelemetry.sdk", "opentelemetry.exporter")):
            raise ModuleNotFoundError(name)
        return None

sys.meta_path.insert(0, NotInstalled())
from httpx import ASGITransport, AsyncClient
from case_service.config import Settings
from case_service.main import create_app

async def main():
    app = create_app(Settings(_env_file=None, database_url={settings.database_url!r}, environment="test"))
    async with app.router.lifespan_context(app):
        async with AsyncClient(transport=ASGITransport(app=app), base_url="http://t") as client:
            assert (await client.get("/api/v1/cases", headers={{"X-User-ID": "a"}})).status_code == 200

asyncio.run(main())
loaded = sorted(name for name in sys.modules if name.startswith(("opentelemetry.sdk", "opentelemetry.exporter")))
assert not loaded, loaded
"""
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr[-2000:]
