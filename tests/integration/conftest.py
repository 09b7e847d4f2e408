"""Fixtures of the integration tests."""

from __future__ import annotations

from collections.abc import AsyncIterator

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
