"""The floor under FastAPI: one route, the caller from one `Header` dependency, asyncpg, orjson.

Not a reference the issue asks for: it shows how much of the ceiling the framework the service is
built on leaves, for GET by id. It runs the ceiling's statement and builds the ceiling's body; what
it adds to the ceiling is FastAPI's routing, its parameter and dependency handling and its
exception middleware. What the service adds on top of it is everything this route leaves out.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, FastAPI, Header, Request
from starlette.responses import Response

from bench.refapps.ceiling import GET_CASE, case_body, json_response, pool_lifespan


async def caller(x_user_id: Annotated[str | None, Header()] = None) -> str:
    return x_user_id or ""


async def get_case(case_id: str, request: Request, user: Annotated[str, Depends(caller)]) -> Response:
    row = await request.app.state.pool.fetchrow(GET_CASE, case_id, user)
    if row is None:
        return json_response({"error": "not found", "code": "case_not_found"}, 404)
    return json_response(case_body(row))


async def health() -> Response:
    return json_response({"status": "ok"})


def create_app() -> FastAPI:
    """`uvicorn --factory bench.refapps.floor:create_app`; BENCH_DSN names the database."""
    app = FastAPI(lifespan=pool_lifespan)
    app.add_api_route("/health", health)
    app.add_api_route("/api/v1/cases/{case_id}", get_case)
    return app
