"""Which scenarios the running service supports, and the request paths for those that need setup.

Cursor paging, search and stats arrive with later changes to the service. The harness reads the
service's own OpenAPI document to find them, so a commit without them reports "not available on
this commit" instead of a fake number, and a commit with them is measured without editing here.
"""

from __future__ import annotations

import json
import random
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import asyncpg

from bench.dataset import Dataset

CASES = "/api/v1/cases"
CURSOR_DEPTH = 10_000
PAGE = 50
# The users of the search and stats scenarios.
SEARCH_USERS_SQL = "SELECT DISTINCT user_id FROM cases WHERE user_id LIKE 'user_%' LIMIT 2000"
SEARCH_TERMS = ["timeout", "checkout", "pool size", "replication lag", "certificate", "memory leak", "gateway 502"]
NOT_ON_THIS_COMMIT = "not available on this commit"


def _get(base_url: str, path: str, user: str | None = None) -> Any:
    request = urllib.request.Request(base_url + path, headers={"X-User-ID": user} if user else {})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


def _api(base_url: str) -> dict[str, Any]:
    return dict(_get(base_url, "/openapi.json")["paths"])


def _query_names(operation: dict[str, Any]) -> list[str]:
    return [p["name"] for p in operation.get("parameters", []) if p.get("in") == "query"]


def search_route(paths: dict[str, Any]) -> tuple[str, str] | None:
    """(path, parameter) of the full-text search: a `.../search` route, or a text parameter on the list."""
    for path, operations in paths.items():
        if path.startswith(CASES) and path.rstrip("/").endswith("search") and "get" in operations:
            names = _query_names(operations["get"])
            for name in ("q", "query", "search", "text"):
                if name in names:
                    return path, name
    names = _query_names(paths.get(CASES, {}).get("get", {}))
    for name in ("q", "search", "query", "text"):
        if name in names:
            return CASES, name
    return None


def stats_route(paths: dict[str, Any]) -> str | None:
    found = [p for p, ops in paths.items() if p.startswith(CASES) and "stats" in p and "get" in ops and "{" not in p]
    return min(found, key=len) if found else None


def available_scenarios(base_url: str) -> dict[str, str | None]:
    """Scenario -> None when the service has it, else the reason it is not measured."""
    paths = _api(base_url)
    has_cursor = "cursor" in _query_names(paths.get(CASES, {}).get("get", {}))
    return {
        "list_cursor_10k": None if has_cursor else f"{NOT_ON_THIS_COMMIT} (no cursor parameter on GET {CASES})",
        "search": None if search_route(paths) else f"{NOT_ON_THIS_COMMIT} (no full-text search route)",
        "stats": None if stats_route(paths) else f"{NOT_ON_THIS_COMMIT} (no stats route)",
    }


async def _users(dataset: Dataset, sql: str, *args: object) -> list[str]:
    conn = await asyncpg.connect(dataset.dsn)
    try:
        return [row[0] for row in await conn.fetch(sql, *args)]
    finally:
        await conn.close()


def _next_cursor(body: dict[str, Any]) -> str | None:
    for key, value in body.items():
        if "cursor" in key and isinstance(value, str) and value:
            return value
    return None


async def write_paths(scenario: str, base_url: str, dataset: Dataset, work: Path, *, smoke: bool = False) -> None:
    """Write `<scenario>_paths.tsv` (user<TAB>path) for the path-driven scenarios."""
    paths = _api(base_url)
    rng = random.Random(9)
    lines: list[tuple[str, str]] = []
    if scenario == "list_cursor_10k":
        depth = 100 if smoke else CURSOR_DEPTH
        users = await _users(
            dataset,
            "SELECT user_id FROM cases WHERE status = 'active' GROUP BY user_id HAVING count(*) > $1 ORDER BY count(*) DESC LIMIT 4",
            depth + PAGE,
        )
        for user in users:
            query = {"status": "active", "limit": str(PAGE)}
            for _ in range(depth // PAGE):
                cursor = _next_cursor(_get(base_url, f"{CASES}?{urllib.parse.urlencode(query)}", user))
                assert cursor, f"the list gave no cursor before depth {depth} for {user}"
                query["cursor"] = cursor
            lines.append((user, f"{CASES}?{urllib.parse.urlencode(query)}"))
    elif scenario == "search":
        route = search_route(paths)
        assert route is not None
        path, name = route
        users = await _users(dataset, SEARCH_USERS_SQL)
        for user in users:
            term = rng.choice(SEARCH_TERMS)
            lines.append((user, f"{path}?{urllib.parse.urlencode({name: term, 'limit': PAGE})}"))
    elif scenario == "stats":
        path = stats_route(paths)
        assert path is not None
        users = await _users(dataset, SEARCH_USERS_SQL)
        lines = [(user, path) for user in users]
    (work / f"{scenario}_paths.tsv").write_text("".join(f"{user}\t{path}\n" for user, path in lines))
