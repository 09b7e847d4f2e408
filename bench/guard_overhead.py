"""What each request guard costs per request, measured around a do-nothing ASGI app.

    .venv/bin/python bench/guard_overhead.py

The request is a GET of one case with X-User-ID (and a valid gateway signature), the hot path the
guards must not slow down. No database: only the middleware's own work is timed.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from case_service.api.gateway import GatewaySignatureMiddleware, canonical_request, gateway_signature
from case_service.api.limits import BodySizeLimitMiddleware, RateLimitMiddleware

PATH = "/api/v1/cases/case_0123456789ab"
SECRET = "x" * 32


async def _inner(scope: Any, receive: Any, send: Any) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b""})


async def _receive() -> dict[str, Any]:
    return {"type": "http.request", "body": b"", "more_body": False}


async def _send(message: dict[str, Any]) -> None:
    return None


async def _per_request(app: Any, headers: dict[str, str], n: int = 50_000) -> float:
    scope = {
        "type": "http",
        "method": "GET",
        "path": PATH,
        "raw_path": PATH.encode(),
        "query_string": b"",
        "headers": [(name.lower().encode(), value.encode()) for name, value in headers.items()],
        "state": {},
    }
    for _ in range(1000):
        await app(dict(scope), _receive, _send)
    started = time.perf_counter()
    for _ in range(n):
        await app(dict(scope), _receive, _send)
    return (time.perf_counter() - started) / n * 1e6


async def main() -> None:
    stamp = str(int(time.time()))
    canonical = canonical_request("GET", PATH, "", user_id="bench", user_email=None, user_roles=None, timestamp=stamp)
    headers = {"X-User-ID": "bench", "X-Gateway-Timestamp": stamp, "X-Gateway-Signature": gateway_signature(SECRET, canonical)}
    bare = await _per_request(_inner, headers)
    for label, app in (
        ("body size limit (always on)", BodySizeLimitMiddleware(_inner, max_bytes=1 << 20)),
        ("rate limit (RATE_LIMIT_PER_MINUTE)", RateLimitMiddleware(_inner, per_minute=1_000_000)),
        ("gateway signature (GATEWAY_SHARED_SECRET)", GatewaySignatureMiddleware(_inner, secret=SECRET, max_skew_seconds=300)),
    ):
        print(f"{label:44s} +{await _per_request(app, headers) - bare:6.2f} us/request")


if __name__ == "__main__":
    asyncio.run(main())
