"""The same cases and the same requests give the same answers on SQLite and PostgreSQL.

Needs both databases in one test (it compares them), so it runs once, not once per backend.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from case_service.main import create_app
from tests.api.helpers import create, post_message
from tests.api.test_paging_properties import START, build_dataset
from tests.conftest import FrozenClock, client_for, make_settings, migrate

REQUESTS: list[tuple[str, dict[str, Any]]] = [
    ("/api/v1/cases", {"limit": 100}),
    ("/api/v1/cases", {"q": "disk", "limit": 100}),
    ("/api/v1/cases", {"q": "di* net*", "limit": 100}),
    ("/api/v1/cases", {"q": '"network timeout"', "limit": 100}),
    ("/api/v1/cases", {"q": "pool", "sort": "relevance", "limit": 100}),
    ("/api/v1/cases", {"q": "alpha", "in": "messages", "limit": 100}),
    ("/api/v1/cases", {"sort": "title", "limit": 100}),
    ("/api/v1/cases", {"sort": "-severity", "tag": ["db", "ui"], "limit": 100}),
    ("/api/v1/cases", {"sort": "status", "resolved": "false", "has_session": "true", "limit": 100}),
    ("/api/v1/cases", {"created_after": "2026-05-01T08:01:00Z", "created_before": "2026-05-01T08:02:30+00:00"}),
    ("/api/v1/cases/stats", {}),
    ("/api/v1/cases/stats", {"q": "disk*", "days": 3}),
]


def comparable(body: dict[str, Any]) -> Any:
    """The answer without what differs by construction (random ids, the signed cursor)."""
    if "cases" in body:
        return [(case["title"], case["status"], case["severity"], case["tags"]) for case in body["cases"]]
    return body


async def answers(url: str) -> list[Any]:
    clock = FrozenClock()
    app = create_app(make_settings(url), clock=clock)
    async with app.router.lifespan_context(app), client_for(app) as client:
        rows = await build_dataset(client, clock)
        await post_message(client, rows[3].case["case_id"], "Alpha team saw it first")
        clock.now = START + timedelta(days=1)
        await create(client, title="Tomorrow's disk", description="disk disk")
        results = []
        for path, params in REQUESTS:
            response = await client.get(path, params=params)
            assert response.status_code == 200, (path, params, response.text)
            results.append(comparable(response.json()))
        return results


@pytest.fixture
def fresh_postgres(postgres_server: Callable[[], str]) -> str:
    url = postgres_server()
    migrate(url)
    return url


async def test_sqlite_and_postgresql_answer_alike(fresh_postgres: str, sqlite_template: Path, tmp_path: Path) -> None:
    sqlite_path = tmp_path / "same.db"
    shutil.copy(sqlite_template, sqlite_path)
    postgres = fresh_postgres
    on_sqlite = await answers(f"sqlite+aiosqlite:///{sqlite_path}")
    on_postgres = await answers(postgres)
    for (path, params), mine, theirs in zip(REQUESTS, on_sqlite, on_postgres, strict=True):
        assert mine == theirs, (path, params)
    assert any(on_sqlite[1]) and on_sqlite[5], "the search requests must find something to compare"
