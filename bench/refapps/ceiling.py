"""The ceiling: bare Starlette + asyncpg + orjson. No ORM, no validation, no middleware.

It answers the same two calls as the service, with the same body shape, doing the least work the
database allows: GET reads the case and its tags in one prepared statement; create inserts the case
and its outbox row in one transaction. Whatever the service spends beyond this is framework and
code overhead (and the extra work its rules require: tags, history, the title counter).
"""

from __future__ import annotations

import os
import secrets
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime

import asyncpg
import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

COLUMNS = (
    "case_id, user_id, session_id, title, description, status, severity, category, metadata, "
    "created_at, updated_at, resolved_at, version, message_count, last_activity_at"
)
GET_CASE = f"""
SELECT {COLUMNS},
       ARRAY(SELECT t.tag FROM case_tags t WHERE t.case_id = c.case_id ORDER BY t.tag) AS tags
FROM cases c WHERE c.case_id = $1 AND c.user_id = $2
"""
INSERT_CASE = f"INSERT INTO cases ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10, NULL, 1, 0, $10)"
INSERT_OUTBOX = """
INSERT INTO event_outbox (event_id, event_type, aggregate_type, aggregate_id, aggregate_version,
                          envelope, headers, created_at)
VALUES ($1, 'case.created', 'case', $2, 1, $3, $4, $5)
"""
HEADERS = '{"ce-specversion": "1.0", "ce-type": "case.created.v1", "content-type": "application/json"}'


def json_response(body: object, status: int = 200) -> Response:
    return Response(orjson.dumps(body), status_code=status, media_type="application/json")


def case_body(row: asyncpg.Record) -> dict[str, object]:
    body = dict(row)
    body["metadata"] = orjson.loads(body["metadata"])
    return body


async def get_case(request: Request) -> Response:
    pool: asyncpg.Pool = request.app.state.pool
    row = await pool.fetchrow(GET_CASE, request.path_params["case_id"], request.headers.get("x-user-id", ""))
    if row is None:
        return json_response({"error": "not found", "code": "case_not_found"}, 404)
    return json_response(case_body(row))


async def create_case(request: Request) -> Response:
    data = orjson.loads(await request.body())
    user_id = request.headers.get("x-user-id", "")
    now = datetime.now(UTC)
    case = {
        "case_id": "case_" + secrets.token_hex(6),
        "user_id": user_id,
        "session_id": data.get("session_id"),
        "title": data.get("title") or "Untitled",
        "description": data.get("description", ""),
        "status": "active",
        "severity": data.get("severity", "medium"),
        "category": data.get("category", "other"),
        "metadata": data.get("metadata", {}),
        "tags": [],
        "created_at": now,
        "updated_at": now,
        "resolved_at": None,
        "version": 1,
        "message_count": 0,
        "last_activity_at": now,
    }
    event_id = str(uuid.uuid4())
    envelope = {
        "event_id": event_id,
        "event_type": "case.created",
        "schema_version": "1.0.0",
        "timestamp": now,
        "producer": "bench-ceiling",
        "aggregate_type": "case",
        "aggregate_id": case["case_id"],
        "aggregate_version": 1,
        "payload": case,
    }
    pool: asyncpg.Pool = request.app.state.pool
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute(
            INSERT_CASE, case["case_id"], user_id, case["session_id"], case["title"], case["description"],
            "active", case["severity"], case["category"], orjson.dumps(case["metadata"]).decode(), now,
        )  # fmt: skip
        await conn.execute(
            INSERT_OUTBOX, event_id, case["case_id"], orjson.dumps(envelope).decode(), HEADERS, now
        )
    return json_response(case, 201)


async def health(_request: Request) -> Response:
    return json_response({"status": "ok"})


@asynccontextmanager
async def pool_lifespan(app: Starlette) -> AsyncIterator[None]:
    """`app.state.pool`: BENCH_POOL_SIZE asyncpg connections to BENCH_DSN while the app runs."""
    size = int(os.environ.get("BENCH_POOL_SIZE", "20"))
    app.state.pool = await asyncpg.create_pool(os.environ["BENCH_DSN"], min_size=size, max_size=size)
    try:
        yield
    finally:
        await app.state.pool.close()


def create_app() -> Starlette:
    """`uvicorn --factory bench.refapps.ceiling:create_app`; BENCH_DSN names the database."""
    return Starlette(
        routes=[
            Route("/health", health),
            Route("/api/v1/cases", create_case, methods=["POST"]),
            Route("/api/v1/cases/{case_id}", get_case),
        ],
        lifespan=pool_lifespan,
    )
