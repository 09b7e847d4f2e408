"""Application factory. `create_app(settings)` builds everything; the lifespan opens the database."""

from __future__ import annotations

import gc
import logging
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.openapi.utils import get_openapi
from fastapi_offline import FastAPIOffline

from case_service import __version__
from case_service.adapters.case_queries import reader_factory
from case_service.adapters.database import Database
from case_service.adapters.migrations import upgrade_to_head
from case_service.adapters.unit_of_work import SqlAlchemyUnitOfWorkFactory
from case_service.api.cursor import CursorCodec
from case_service.api.deps import document_caller_headers
from case_service.api.errors import install_error_handlers
from case_service.api.guards import EXPOSED_RESPONSE_HEADERS, document_cross_cutting_responses, install_request_guards
from case_service.api.idempotency import install_replay_handler
from case_service.api.listing import QUERY_MODELS
from case_service.api.query_params import query_definitions
from case_service.api.routes import (
    cases,
    context,
    evidence,
    health,
    history,
    internal_events,
    listing,
    messages,
    metrics,
    outbox,
    tags,
    users,
)
from case_service.api.telemetry import CORRELATION_HEADER, RequestTelemetryMiddleware
from case_service.config import Settings, load_settings
from case_service.observability.logging import configure_logging
from case_service.observability.metrics import Metrics
from case_service.observability.otel import span_export
from case_service.service.case_queries import CaseQueryService
from case_service.service.cases import CaseService, Clock, utc_now
from case_service.service.platform_events import PlatformEventService, event_policy
from case_service.workers import BackgroundWorker, background_workers

logger = logging.getLogger(__name__)

DESCRIPTION = """\
Case management for the FaultMaven troubleshooting platform.

Every `/api/v1` call must carry `X-User-ID` (the API gateway sets it after authenticating the
user). Callers see and change only their own cases: another user's case answers 404, exactly like
a missing one. Every error has the same body: `{"error", "code", "details", "correlation_id"}`.

When the service runs with `GATEWAY_SHARED_SECRET`, every `/api/v1` and `/internal/v1` call must also carry
`X-Gateway-Timestamp` and `X-Gateway-Signature` (an HMAC-SHA256 the gateway computes; the README
gives the exact computation with a worked example); without them it answers 401.
"""


def create_app(settings: Settings | None = None, *, clock: Clock = utc_now) -> FastAPI:
    """Build the app. `clock` is the time source of the use cases (tests pass a controllable one)."""
    settings = settings or load_settings()
    configure_logging(settings)
    spans = span_export(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        database = Database(settings)
        started: list[BackgroundWorker] = []
        # List, search, stats and batch reads go to the replica when there is one.
        read_database = Database(settings, settings.database_read_url) if settings.database_read_url else database
        try:
            if settings.auto_migrate:
                await upgrade_to_head(database)
            app.state.database = database
            app.state.read_database = read_database
            app.state.metrics.database_pool.watch("primary", lambda: database.engine.pool)
            if read_database is not database:
                app.state.metrics.database_pool.watch("replica", lambda: read_database.engine.pool)
            uow_factory = SqlAlchemyUnitOfWorkFactory(database, settings.service_name)
            app.state.case_service = CaseService(
                uow_factory, clock=clock, idempotency_ttl=timedelta(seconds=settings.idempotency_ttl_seconds)
            )
            app.state.platform_events = PlatformEventService(
                uow_factory, event_policy(settings), clock, app.state.metrics
            )
            app.state.case_queries = CaseQueryService(reader_factory(read_database), clock=clock)
            for worker in background_workers(settings, database, app.state.metrics):
                await worker.start()
                started.append(worker)
            app.state.workers = started
            logger.info("%s %s ready on %s", settings.service_name, __version__, database.dialect)
            yield
        finally:
            # Workers first, newest first, while the database is still open for their last batch.
            for worker in reversed(started):
                await worker.stop(settings.shutdown_timeout)
            app.state.metrics.database_pool.forget()
            if read_database is not database:
                await read_database.dispose()
            await database.dispose()
            if spans is not None:
                spans.shutdown()
            logger.info("%s stopped: workers finished, database pool closed", settings.service_name)

    # /docs and /redoc with Swagger UI and ReDoc served from the installed package: no CDN, so the
    # docs render on a network with no internet access.
    app = FastAPIOffline(
        title="FaultMaven Case Service",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
        # The service traces and counts its own requests (RequestTelemetryMiddleware, OTEL_*).
        # FastAPI's built-in OpenTelemetry would look its providers up again on every request.
        telemetry={"tracing": False, "metrics": False, "logs": False, "operation_spans": False},
    )
    app.state.settings = settings
    app.state.metrics = Metrics()
    app.state.cursors = CursorCodec(
        settings.cursor_secret.get_secret_value().encode() if settings.cursor_secret else secrets.token_bytes(32)
    )
    install_error_handlers(app)
    install_replay_handler(app)
    install_request_guards(app, settings)
    app.add_middleware(
        CORSMiddleware,
        allow_origins=settings.cors_origins,
        # Credentials are never allowed together with a wildcard origin.
        allow_credentials="*" not in settings.cors_origins,
        allow_methods=["*"],
        allow_headers=["*"],
        expose_headers=[CORRELATION_HEADER, *EXPOSED_RESPONSE_HEADERS],
    )
    # Outermost: requests refused by any inner layer are still counted, timed and logged.
    app.add_middleware(
        RequestTelemetryMiddleware, metrics=app.state.metrics, access_log=settings.access_log, spans=spans
    )
    # Routes are tried in order, and each one tried costs every request (FastAPI 0.165 matches
    # route by route: about 24k instructions each), so the API's come first and health, metrics and
    # the documentation's last (bench/PROFILE.md §15.5, §16, §21). The by-id routes first: their
    # `{case_id:case}` leaves `GET /api/v1/cases/tags`, `/stats` and `POST /batch` to the routers
    # after them.
    documentation = list(app.router.routes)  # /openapi.json, /docs, /redoc and their static files
    app.include_router(cases.router)
    app.include_router(listing.router)
    app.include_router(tags.router)
    app.include_router(messages.router)
    app.include_router(history.router)
    app.include_router(context.router)
    app.include_router(evidence.router)
    app.include_router(users.router)
    app.include_router(internal_events.router)
    app.include_router(outbox.router)
    app.include_router(health.router)
    app.include_router(metrics.router)
    app.router.routes[:] = [route for route in app.router.routes if route not in documentation] + documentation
    app.openapi = lambda: _openapi_with_one_error_body(app)  # type: ignore[method-assign]
    return app


def _openapi_with_one_error_body(app: FastAPI) -> dict[str, Any]:
    """FastAPI documents its own 422 body; ours is the one error body, so say that instead."""
    if app.openapi_schema is None:
        schema = get_openapi(
            title=app.title, version=app.version, description=app.description, routes=app.routes
        )
        for operations in schema.get("paths", {}).values():
            for operation in operations.values():
                invalid = operation.get("responses", {}).get("422")
                if invalid and "HTTPValidationError" in str(invalid):
                    operation["responses"]["422"] = {
                        "description": "A field, parameter or header is invalid; `details.errors` names each one.",
                        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}},
                    }
        document_caller_headers(schema, app.routes)
        document_cross_cutting_responses(schema)
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        for name in ("HTTPValidationError", "ValidationError"):
            components.pop(name, None)
        components.update(query_definitions(*QUERY_MODELS))  # the list routes' enums (`api/query_params.py`)
        schema["components"]["schemas"] = dict(sorted(components.items()))
        app.openapi_schema = schema
    return app.openapi_schema


# Net allocations of container objects between two collections of the youngest generation, in a
# serving process (Python's default: 700). Cyclic garbage waits for at most this many.
SERVING_GC_THRESHOLD = 10_000


def __getattr__(name: str) -> Any:
    """`case_service.main:app` for uvicorn, built on first access rather than at import."""
    if name == "app":
        global app
        app = create_app()
        # This process serves: what exists now (modules, the app) lives as long as it does, so
        # take it out of the collector's reach; full collections then walk only what requests
        # create (measured: a third of the time spent in them, ~10% less CPU per list page).
        gc.collect()
        gc.freeze()
        # 64 requests in flight hold a few thousand containers between them, so Python's default
        # of a young collection every 700 net allocations ran one every seven GETs: 1.9 s of a
        # 22 s load went to collections. At 10,000, the same load ran two (bench/PROFILE.md §22).
        gc.set_threshold(SERVING_GC_THRESHOLD, *gc.get_threshold()[1:])
        return app
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def main() -> None:
    from case_service.cli import main as cli_main

    cli_main(["serve"])


if __name__ == "__main__":
    main()
