"""One relay per database publishes; late commits are not skipped; old published rows are purged."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from fastapi import FastAPI
from httpx import AsyncClient
from sqlalchemy import insert, select, update

from case_service.adapters.database import Database
from case_service.adapters.outbox import write_events
from case_service.adapters.outbox_store import OutboxStore
from case_service.adapters.repository import CaseRepository
from case_service.adapters.tables import event_inbox, event_outbox
from case_service.config import Settings
from case_service.domain.case import Case, new_case_id
from case_service.observability.metrics import Metrics
from case_service.service.context import Actor, RequestContext
from case_service.workers.relay import OutboxRelay
from tests.api.helpers import create
from tests.brokers import eventually
from tests.conftest import client_for
from tests.integration.relays import nothing_pending, outbox_rows, relay_settings, start_relay
from tests.jetstream import TestStream
from tests.support.tcp_proxy import TcpProxy

@pytest.mark.parametrize("backend", ["postgresql"])
@pytest.mark.postgres_only
async def test_two_relays_never_lead_together_and_the_standby_takes_over_when_the_leader_is_cut_off(
    app: FastAPI, client: AsyncClient, settings: Settings, jetstream: TestStream, running_relays: list[OutboxRelay]
) -> None:
    """PostgreSQL only (the advisory lock; SQLite has its own file-lock test). Relay A reaches the
    database through a proxy; cutting the proxy cuts A's lock connection and pool alike."""
    fast = relay_settings(settings, outbox_leader_check_interval=0.2)
    host, port = settings.database_url.split("@", 1)[1].split("/", 1)[0].split(":")
    proxy = TcpProxy(host, int(port))
    await proxy.start()
    proxied_database = Database(
        fast.model_copy(update={"database_url": settings.database_url.replace(f"{host}:{port}", f"127.0.0.1:{proxy.port}")})
    )
    try:
        relay_a = await start_relay(
            running_relays,
            OutboxRelay(fast, proxied_database, Metrics(), publisher=jetstream.publisher(), identity="relay-a"),
        )
        await eventually(lambda: (relay_a.is_leader), what="relay A to lead")
        relay_b = await start_relay(
            running_relays,
            OutboxRelay(fast, app.state.database, Metrics(), publisher=jetstream.publisher(), identity="relay-b"),
        )
        both_led = []

        async def watch() -> None:
            while True:
                if relay_a.is_leader and relay_b.is_leader:
                    both_led.append(datetime.now(UTC))
                await asyncio.sleep(0.005)

        watcher = asyncio.create_task(watch())
        for n in range(5):
            await create(client, title=f"Led by A {n}")
        await eventually(lambda: jetstream.holds(5), what="A to publish")
        assert not relay_b.is_leader  # it stood by the whole time

        async with _operator(app) as ops:
            assert (await ops.get("/internal/v1/outbox/stats")).json()["relay"]["active"] == "relay-a"
        await proxy.cut()
        for n in range(5):
            await create(client, title=f"During the takeover {n}")
        await eventually(lambda: (relay_b.is_leader and not relay_a.is_leader), timeout=10, what="B to take over")
        await eventually(lambda: nothing_pending(app.state.database), what="B to publish the rest")
        async with _operator(app) as ops:
            assert (await ops.get("/internal/v1/outbox/stats")).json()["relay"]["active"] == "relay-b"
        watcher.cancel()
        assert both_led == []
        assert await jetstream.count() == 10
        assert {m.envelope["event_id"] for m in await jetstream.messages()} == {
            row.event_id for row in await outbox_rows(app.state.database)
        }
    finally:
        await proxy.close()
        for relay in running_relays:
            await relay.stop(2)
        await proxied_database.dispose()


async def test_a_second_relay_on_one_database_stands_by_until_the_first_stops(
    app: FastAPI, settings: Settings, jetstream: TestStream, running_relays: list[OutboxRelay]
) -> None:
    fast = relay_settings(settings, outbox_leader_check_interval=0.1)
    first = await start_relay(running_relays, OutboxRelay(fast, app.state.database, Metrics(), publisher=jetstream.publisher()))
    await eventually(lambda: (first.is_leader), what="the first relay to lead")
    second = await start_relay(running_relays, OutboxRelay(fast, app.state.database, Metrics(), publisher=jetstream.publisher()))
    for _ in range(20):  # a good few of its tries to take the lead
        assert not second.is_leader
        await asyncio.sleep(0.02)
    await first.stop(2)
    await eventually(lambda: (second.is_leader), what="the second relay to take over")


@pytest.mark.parametrize("backend", ["postgresql"])
@pytest.mark.postgres_only
async def test_an_event_inserted_early_and_committed_late_is_still_published(
    app: FastAPI, client: AsyncClient, settings: Settings, jetstream: TestStream, running_relays: list[OutboxRelay]
) -> None:
    """PostgreSQL only: SQLite lets one writer in at a time, so a later transaction cannot commit
    while an earlier one is open. Here the slow transaction takes the smaller outbox id, a later
    one commits and is published first, and the slow one must not be skipped for it."""
    database = app.state.database
    relay = OutboxRelay(relay_settings(settings), database, app.state.metrics, publisher=jetstream.publisher())
    await start_relay(running_relays, relay)
    context = RequestContext(Actor("alice"), correlation_id="slow-transaction")
    now = datetime.now(UTC)
    async with database.connection(write=True) as slow:
        case = Case.open(case_id=new_case_id(), user_id="alice", title="Slow", now=now)
        await CaseRepository(slow).add(case)
        await write_events(slow, case.events, context, settings.service_name)
        fast_case = (await create(client, title="Fast"))["case_id"]
        await eventually(lambda: jetstream.holds(1), what="the later transaction's event")
        await slow.commit()
    await eventually(lambda: jetstream.holds(2), what="the early-inserted, late-committed event")
    rows = {row.aggregate_id: row for row in await outbox_rows(database)}
    assert rows[case.case_id].id < rows[fast_case].id
    assert [m.envelope["aggregate_id"] for m in await jetstream.messages()] == [fast_case, case.case_id]


async def test_published_rows_past_retention_are_purged_in_batches_and_pending_rows_never(
    app: FastAPI, client: AsyncClient
) -> None:
    database = app.state.database
    for n in range(7):
        await create(client, title=f"Case {n}")
    rows = await outbox_rows(database)
    long_ago = datetime.now(UTC) - timedelta(days=30)
    async with database.connection(write=True) as conn:
        # Five published long ago, one published just now, one still pending (and old).
        await conn.execute(update(event_outbox).where(event_outbox.c.id.in_([r.id for r in rows[:5]])).values(published_at=long_ago))
        await conn.execute(update(event_outbox).where(event_outbox.c.id == rows[5].id).values(published_at=datetime.now(UTC)))
        await conn.execute(update(event_outbox).where(event_outbox.c.id == rows[6].id).values(created_at=long_ago))
        await conn.commit()
    deleted = await OutboxStore(database).purge_published(datetime.now(UTC) - timedelta(days=7), batch_size=2)
    assert deleted == 5
    assert [r.id for r in await outbox_rows(database)] == [rows[5].id, rows[6].id]



async def test_the_leader_also_purges_inbox_rows_completed_before_the_retention(
    app: FastAPI, settings: Settings, running_relays: list[OutboxRelay]
) -> None:
    database = app.state.database
    retention = timedelta(seconds=settings.inbox_retention_seconds)
    async with database.connection(write=True) as conn:
        for event_id, age in (("old", retention + timedelta(hours=1)), ("recent", retention - timedelta(hours=1))):
            completed = datetime.now(UTC) - age
            await conn.execute(
                insert(event_inbox).values(
                    consumer=settings.event_consumer_name, event_id=event_id, event_type="t", source="http",
                    outcome="applied", affected=0, received_at=completed, completed_at=completed,
                )
            )  # fmt: skip
        await conn.commit()
    await start_relay(running_relays, OutboxRelay(relay_settings(settings, outbox_purge_interval=0.1), database, Metrics()))

    async def only_the_recent_row_is_left() -> bool:
        async with database.connection(write=False) as conn:
            return list((await conn.execute(select(event_inbox.c.event_id))).scalars()) == ["recent"]

    await eventually(only_the_recent_row_is_left, what="the leader's purge of the old inbox row")


def _operator(app: FastAPI) -> AsyncClient:
    return client_for(app, "ops", **{"X-User-Roles": "platform-service"})


class _StuckPurgeStore(OutboxStore):
    """The real store, but its purge hangs until released: a purge of millions of rows, say."""

    def __init__(self, database: Database) -> None:
        super().__init__(database)
        self.purging = asyncio.Event()
        self.release = asyncio.Event()

    async def purge_published(self, older_than: datetime, batch_size: int) -> int:
        self.purging.set()
        await self.release.wait()
        return await super().purge_published(older_than, batch_size)


async def test_a_long_purge_does_not_hold_back_publishing(
    app: FastAPI, client: AsyncClient, settings: Settings, jetstream: TestStream, running_relays: list[OutboxRelay]
) -> None:
    database = app.state.database
    store = _StuckPurgeStore(database)
    relay = await start_relay(
        running_relays,
        OutboxRelay(
            relay_settings(settings, outbox_purge_interval=0.1), database, Metrics(),
            publisher=jetstream.publisher(), store=store,
        ),
    )
    await eventually(lambda: store.purging.is_set(), what="the purge to start")
    for n in range(3):
        await create(client, title=f"Written while purging {n}")
    await eventually(lambda: jetstream.holds(3), what="the events to go out during the purge")
    assert relay.is_leader and not store.release.is_set()
    store.release.set()
