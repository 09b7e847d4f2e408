"""Fixtures of the integration tests."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
from fastapi import FastAPI

from case_service.workers.relay import OutboxRelay


@pytest.fixture
async def running_relays(app: FastAPI) -> AsyncIterator[list[OutboxRelay]]:
    """Relays a test starts; each is stopped after it (before the app closes its database)."""
    relays: list[OutboxRelay] = []
    yield relays
    for relay in relays:
        await relay.stop(5)


@pytest.fixture
def fresh_url(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A new, empty database of the backend under test, for the migration tests."""
    if backend == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'fresh.db'}"
    new_database: Callable[[], str] = request.getfixturevalue("postgres_server")
    return new_database()
