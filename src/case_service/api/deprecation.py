"""Marking a route deprecated: the headers that tell callers, and a count of who still calls it.

    @router.get("/api/v1/old/{case_id}", **deprecated(since=date(2026, 12, 1), sunset=date(2027, 6, 1),
                                                      successor="/api/v2/cases/{case_id}"))

The route is flagged `deprecated` in the OpenAPI contract, and every response to it (errors
included) carries `Deprecation` (RFC 9745), `Sunset` (RFC 8594) and a `Link` to its successor;
`case_deprecated_route_calls_total` counts the calls by route and method.
"""

from __future__ import annotations

import calendar
from datetime import UTC, date, datetime, time
from email.utils import format_datetime
from typing import Any

from fastapi import Depends, Request

from case_service.api.telemetry import EXTRA_RESPONSE_HEADERS, route_template


def deprecated(*, since: date, sunset: date, successor: str) -> dict[str, Any]:
    """Keyword arguments for a route decorator. `successor` may name the route's path parameters."""
    if sunset <= since:
        raise ValueError("the sunset must come after the deprecation")
    deprecation = f"@{calendar.timegm(_midnight(since).timetuple())}"
    sunset_header = format_datetime(_midnight(sunset), usegmt=True)

    async def announce(request: Request) -> None:
        link = successor.format(**request.path_params)
        request.scope["state"].setdefault(EXTRA_RESPONSE_HEADERS, []).extend(
            [
                (b"deprecation", deprecation.encode()),
                (b"sunset", sunset_header.encode()),
                (b"link", f'<{link}>; rel="successor-version"'.encode()),
            ]
        )
        request.app.state.metrics.deprecated_calls.labels(route=route_template(request.scope), method=request.method).inc()

    return {"deprecated": True, "dependencies": [Depends(announce)]}


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time(), tzinfo=UTC)
