"""Dependencies shared by the routers: who is calling, which service to call, how to page."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Query, Request
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute, iter_route_contexts
from starlette.routing import BaseRoute

from case_service.config import Settings
from case_service.domain.errors import BadRequest, Forbidden, InvalidInput, Unauthenticated
from case_service.service.case_queries import CaseQueryService
from case_service.service.cases import CaseService
from case_service.service.context import Actor, RequestContext
from case_service.workers.relay import OutboxRelay

USER_ID_MAX_LENGTH = 128
USER_ID_PATTERN = r"^[A-Za-z0-9._@:+|\-]+$"
_USER_ID = re.compile(USER_ID_PATTERN)
_ROLE = re.compile(r"^[A-Za-z0-9._:\-]{1,64}$")
MAX_OFFSET = 1_000_000


async def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def get_case_service(request: Request) -> CaseService:
    return case_service_of(request)


def case_service_of(request: Request) -> CaseService:
    """The app's CaseService, for the one route that takes no dependency: GET by id, the hottest
    read. FastAPI 0.165 solves each dependency anew on every request, and this one cost a GET 5% of
    its instructions (bench/PROFILE.md §20.2). Every other route uses `CaseServiceDep`."""
    service: CaseService = request.app.state.case_service
    return service


async def get_case_queries(request: Request) -> CaseQueryService:
    return case_queries_of(request)


def case_queries_of(request: Request) -> CaseQueryService:
    """The app's CaseQueryService, for the list routes, which read their parameters themselves
    (`api/query_params.py`)."""
    service: CaseQueryService = request.app.state.case_queries
    return service


def local_relay(request: Request) -> OutboxRelay | None:
    """This process's outbox relay, when OUTBOX_RELAY_ENABLED started one."""
    workers = getattr(request.app.state, "workers", [])
    return next((worker for worker in workers if isinstance(worker, OutboxRelay)), None)


# The caller's headers. `get_request_context` reads them from the request itself: declared as
# FastAPI `Header` parameters, their extraction and validation cost an eighth of a GET's
# instructions on every call (bench/PROFILE.md §10.1, §10.4). `document_caller_headers` puts them
# in the OpenAPI document of every operation that reads them, as the declarations did.
CALLER_HEADERS = (
    ("x-user-id", "X-User-Id", "The caller, as authenticated by the API gateway. Required; sent once."),
    ("x-user-email", "X-User-Email", "The caller's email, when known."),
    ("x-user-roles", "X-User-Roles", 'The caller\'s roles: a JSON array (`["admin"]`) or a comma-separated list.'),
)


async def get_request_context(request: Request) -> RequestContext:
    headers = request.headers
    user_ids = headers.getlist("x-user-id")
    if len(user_ids) > 1:
        raise BadRequest("X-User-ID was sent more than once; send exactly one", header="X-User-ID")
    user_id = user_ids[0].strip() if user_ids else ""
    if not user_id:
        raise Unauthenticated("X-User-ID header is required", header="X-User-ID")
    if len(user_id) > USER_ID_MAX_LENGTH or not _USER_ID.match(user_id):
        raise BadRequest(
            f"X-User-ID must be 1-{USER_ID_MAX_LENGTH} characters of letters, digits and ._@:+|-",
            header="X-User-ID",
        )
    email = (headers.get("x-user-email") or "").strip() or None
    if email is not None and len(email) > 320:
        raise BadRequest("X-User-Email must be at most 320 characters", header="X-User-Email")
    actor = Actor(user_id=user_id, email=email, roles=parse_roles(headers.get("x-user-roles")))
    request.state.user_id = user_id  # from here on, the request's log lines name the caller
    return RequestContext(
        actor=actor,
        correlation_id=request.state.correlation_id,
        traceparent=getattr(request.state, "traceparent", None),
        tracestate=getattr(request.state, "tracestate", None),
    )


async def get_operator_context(ctx: Annotated[RequestContext, Depends(get_request_context)]) -> RequestContext:
    """The caller of an `/internal/v1` route: known, and an admin or a platform service."""
    if not ctx.actor.is_operator:
        raise Forbidden("This operation requires the 'admin' or 'platform-service' role", header="X-User-Roles")
    return ctx


def document_caller_headers(schema: dict[str, Any], routes: list[BaseRoute]) -> None:
    """List the caller's headers among the parameters of every operation that reads them through a
    dependency (GET by id, which calls `get_request_context` itself, lists them in its own
    `openapi_extra`), then put each operation's parameters where FastAPI puts them."""
    for route in iter_route_contexts(routes):
        if not isinstance(route.original_route, APIRoute) or not _reads_caller(route.dependant):
            continue
        for method in route.methods:
            operation = schema.get("paths", {}).get(route.path_format, {}).get(method.lower())
            if operation is not None:
                operation.setdefault("parameters", []).extend(caller_header_parameters())
    for operations in schema.get("paths", {}).values():
        for method, operation in operations.items():
            operations[method] = _parameters_first(operation)


def _parameters_first(operation: dict[str, Any]) -> dict[str, Any]:
    """The operation with `parameters` before the body and the responses, as FastAPI writes it (a
    key added afterwards, or by `openapi_extra` to an operation without parameters, comes last)."""
    if "parameters" not in operation:
        return operation
    fields = [(key, value) for key, value in operation.items() if key != "parameters"]
    at = next((i for i, (key, _) in enumerate(fields) if key in ("requestBody", "responses")), len(fields))
    return dict([*fields[:at], ("parameters", operation["parameters"]), *fields[at:]])


def caller_header_parameters() -> list[dict[str, Any]]:
    return [header_parameter(name, title, text) for name, title, text in CALLER_HEADERS]


def header_parameter(name: str, title: str, text: str) -> dict[str, Any]:
    """An optional string header, documented as FastAPI documents a `Header` parameter."""
    return {
        "name": name,
        "in": "header",
        "required": False,
        "schema": {"anyOf": [{"type": "string"}, {"type": "null"}], "description": text, "title": title},
        "description": text,
    }


def path_parameter(name: str, title: str, text: str) -> dict[str, Any]:
    """A string path parameter, documented as FastAPI documents a `Path` parameter."""
    return {
        "name": name,
        "in": "path",
        "required": True,
        "schema": {"type": "string", "description": text, "title": title},
        "description": text,
    }


def _reads_caller(dependant: Dependant) -> bool:
    return any(sub.call is get_request_context or _reads_caller(sub) for sub in dependant.dependencies)


def parse_roles(value: str | None) -> frozenset[str]:
    """Roles as the gateway sends them (`["admin","support"]`) or as a comma list (`admin,support`)."""
    if value is None or not value.strip():
        return frozenset()
    text = value.strip()
    if text.startswith("["):
        try:
            parsed = json.loads(text)
        except ValueError:
            parsed = None
        if not isinstance(parsed, list) or not all(isinstance(role, str) for role in parsed):
            raise BadRequest("X-User-Roles is not a JSON array of strings", header="X-User-Roles")
        roles = parsed
    else:
        roles = text.split(",")
    cleaned = {role.strip().lower() for role in roles if role.strip()}
    if not all(_ROLE.match(role) for role in cleaned):
        raise BadRequest("X-User-Roles holds a role with characters outside [A-Za-z0-9._:-]", header="X-User-Roles")
    return frozenset(cleaned)


@dataclass(frozen=True)
class Page:
    limit: int
    offset: int


LIMIT_TEXT = "Page size: DEFAULT_PAGE_SIZE (50) when absent, at most MAX_PAGE_SIZE (100)."
OFFSET_TEXT = "How many matching cases to skip."


async def get_page(
    settings: Annotated[Settings, Depends(get_settings)],
    limit: Annotated[int | None, Query(ge=1, description=LIMIT_TEXT)] = None,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET, description=OFFSET_TEXT)] = 0,
) -> Page:
    return page_of(settings, limit, offset)


def page_of(settings: Settings, limit: int | None, offset: int) -> Page:
    """The page asked for: `limit` cases (the default page size when None) after `offset`."""
    size = settings.default_page_size if limit is None else limit
    if size > settings.max_page_size:
        raise InvalidInput("limit", f"must be at most {settings.max_page_size}", location="query")
    return Page(limit=size, offset=offset)


SettingsDep = Annotated[Settings, Depends(get_settings)]
CaseServiceDep = Annotated[CaseService, Depends(get_case_service)]
CaseQueriesDep = Annotated[CaseQueryService, Depends(get_case_queries)]
ContextDep = Annotated[RequestContext, Depends(get_request_context)]
OperatorContextDep = Annotated[RequestContext, Depends(get_operator_context)]
PageDep = Annotated[Page, Depends(get_page)]
