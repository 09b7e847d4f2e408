"""The inbox keeps completed rows for INBOX_RETENTION_SECONDS, then the purge deletes them: the use
case on both backends, and `case-service purge-inbox` (the relay's leader running it is tested in
tests/integration/test_relay_leadership.py)."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from httpx import AsyncClient
from sqlalchemy import insert, select, update

from case_service.adapters.tables import event_inbox
from case_service.adapters.unit_of_work import SqlAlchemyUnitOfWorkFactory
from case_service.config import Settings
from case_service.service.platform_events import InboxPurge
from tests.api.helpers import count_rows
from tests.events import deliver, envelope

RETENTION = timedelta(days=30)


async def delivered(client: AsyncClient) -> str:
    """An event applied through the ingress (completed at once): its id."""
    event = envelope("billing.invoice.paid", {"invoice": 1})
    answer = await deliver(client, event)
    assert answer.json()["outcome"] == "ignored", answer.text
    return str(event["event_id"])


async def completed_ago(app: Any, event_id: str, age: timedelta) -> None:
    async with app.state.database.connection(write=True) as conn:
        await conn.execute(
            update(event_inbox)
            .where(event_inbox.c.event_id == event_id)
            .values(received_at=datetime.now(UTC) - age, completed_at=datetime.now(UTC) - age)
        )
        await conn.commit()


async def pending_since(app: Any, age: timedelta) -> str:
    """A row still pending (a user's deletion cut off between batches, say), received long ago."""
    event_id = "00000000-0000-4000-8000-000000000001"
    async with app.state.database.connection(write=True) as conn:
        await conn.execute(
            insert(event_inbox).values(
                consumer=app.state.settings.event_consumer_name,
                event_id=event_id,
                event_type="auth.user.deleted",
                source="nats",
                outcome="pending",
                affected=200,
                received_at=datetime.now(UTC) - age,
            )
        )
        await conn.commit()
    return event_id


async def inbox_ids(app: Any) -> set[str]:
    async with app.state.database.connection(write=False) as conn:
        return set((await conn.execute(select(event_inbox.c.event_id))).scalars())


def purge_for(app: Any, batch_size: int) -> InboxPurge:
    uow_factory = SqlAlchemyUnitOfWorkFactory(app.state.database, "case-service")
    return InboxPurge(uow_factory, lambda: datetime.now(UTC), RETENTION, batch_size)


async def test_the_purge_deletes_rows_completed_before_the_retention_and_keeps_the_rest(
    app: Any, client: AsyncClient
) -> None:
    old = [await delivered(client) for _ in range(3)]
    recent = await delivered(client)
    for event_id in old:
        await completed_ago(app, event_id, RETENTION + timedelta(hours=1))
    await completed_ago(app, recent, RETENTION - timedelta(hours=1))
    pending = await pending_since(app, RETENTION * 2)

    assert await purge_for(app, batch_size=2).purge() == 3  # two batches: 2, then 1
    assert await inbox_ids(app) == {recent, pending}
    assert await purge_for(app, batch_size=2).purge() == 0


async def test_a_kept_event_is_still_a_duplicate_and_a_purged_one_applies_again(
    app: Any, client: AsyncClient
) -> None:
    """What the retention buys: deduplication of redeliveries within it, and only within it."""
    kept = envelope("billing.invoice.paid", {"invoice": 1})
    purged = envelope("billing.invoice.paid", {"invoice": 2})
    for event in (kept, purged):
        assert (await deliver(client, event)).json()["outcome"] == "ignored"
    await completed_ago(app, purged["event_id"], RETENTION + timedelta(days=1))

    assert await purge_for(app, batch_size=100).purge() == 1

    assert (await deliver(client, kept)).json()["outcome"] == "duplicate"
    assert (await deliver(client, purged)).json()["outcome"] == "ignored"
    assert await count_rows(app, event_inbox) == 2


def test_the_purge_command_deletes_old_completed_rows(sqlite_template: Path, tmp_path: Path) -> None:
    """`case-service purge-inbox` as cron would run it (the purge itself is tested on both
    databases above; this is the command's plumbing, and the retention setting's)."""
    path = tmp_path / "cases.db"
    shutil.copy(sqlite_template, path)
    now = datetime.now(UTC)
    with sqlite3.connect(path) as db:
        for event_id, completed in (("old", now - timedelta(days=11)), ("new", now - timedelta(days=9)), ("pending", None)):
            db.execute(
                "INSERT INTO event_inbox (consumer, event_id, event_type, source, outcome, affected,"
                " received_at, completed_at) VALUES ('case-service', ?, 't', 'http', ?, 0, ?, ?)",
                (
                    event_id,
                    "applied" if completed else "pending",
                    _stored(now - timedelta(days=30)),
                    None if completed is None else _stored(completed),
                ),
            )
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{path}",
        "AUTO_MIGRATE": "false",
        "INBOX_RETENTION_SECONDS": str(10 * 24 * 3600),
    }
    command = [str(Path(sys.executable).parent / "case-service"), "purge-inbox"]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "purged 1 completed inbox rows" in done.stderr
    with sqlite3.connect(path) as db:
        assert sorted(event_id for (event_id,) in db.execute("SELECT event_id FROM event_inbox")) == ["new", "pending"]


@pytest.mark.parametrize("seconds", ["0", "59", "-1", "soon"])
def test_a_retention_under_an_hour_is_refused(seconds: str) -> None:
    with pytest.raises(ValueError, match="inbox_retention_seconds"):
        Settings(inbox_retention_seconds=seconds)  # type: ignore[arg-type]


def _stored(moment: datetime) -> str:
    """A UTC time as the SQLite schema stores it."""
    return moment.strftime("%Y-%m-%d %H:%M:%S.%f")
