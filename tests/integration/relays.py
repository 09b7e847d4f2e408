"""Helpers of the relay tests: fast settings, the outbox as it stands, relays stopped after each test."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select

from case_service.adapters.database import Database
from case_service.adapters.outbox_store import OutboxStore
from case_service.adapters.tables import event_outbox
from case_service.config import Settings
from case_service.workers.relay import OutboxRelay


def relay_settings(settings: Settings, **overrides: Any) -> Settings:
    """Fast retries and checks, so outage tests wait seconds, not minutes."""
    values: dict[str, Any] = {
        "outbox_retry_base_delay": 0.05,
        "outbox_retry_max_delay": 0.3,
        "outbox_leader_check_interval": 0.2,
        "outbox_publish_timeout": 1.0,
        **overrides,
    }
    return settings.model_copy(update=values)


async def outbox_rows(database: Database) -> list[Any]:
    async with database.connection(write=False) as conn:
        return list((await conn.execute(select(event_outbox).order_by(event_outbox.c.id))).all())


async def nothing_pending(database: Database) -> bool:
    return (await OutboxStore(database).pending_summary(datetime.now(UTC))).pending == 0


async def start_relay(relays: list[OutboxRelay], relay: OutboxRelay) -> OutboxRelay:
    """Start `relay` and put it on the test's list (the `running_relays` fixture stops them)."""
    await relay.start()
    relays.append(relay)
    return relay
