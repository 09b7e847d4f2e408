"""Each mutating call writes exactly its events, in its transaction, valid against the AsyncAPI contract."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi import FastAPI
from httpx import AsyncClient, Response
from sqlalchemy import select

from case_service.adapters import history, unit_of_work
from case_service.adapters.tables import case_history, cases, event_outbox
from case_service.adapters.unit_of_work import SqlAlchemyUnitOfWorkFactory
from case_service.domain import events as domain_events
from case_service.domain.case import Case, new_case_id
from case_service.domain.errors import ConcurrentModification
from case_service.service.context import Actor, RequestContext
from tests.api.helpers import count_rows
from tests.conftest import client_for
from tests.events import deliver, envelope, evidence_event
from tests.event_contract import assert_valid_event, channel_addresses, contract


class OutboxWatch:
    """The outbox rows written since the last look."""

    def __init__(self, app: FastAPI) -> None:
        self._app = app
        self._seen: set[int] = set()

    async def new(self) -> list[Any]:
        async with self._app.state.database.connection(write=False) as conn:
            rows = (await conn.execute(select(event_outbox).order_by(event_outbox.c.id))).all()
        fresh = [row for row in rows if row.id not in self._seen]
        self._seen |= {row.id for row in fresh}
        for row in fresh:
            assert_valid_event(row.envelope, row.headers)
        return fresh


def events_of(rows: list[Any]) -> list[tuple[str, int]]:
    return [(row.event_type, row.aggregate_version) for row in rows]


async def test_every_mutating_call_writes_exactly_its_events_valid_against_the_contract(app: FastAPI) -> None:
    watch = OutboxWatch(app)
    async with client_for(app, "alice", **{"X-Correlation-ID": "corr-alice-1"}) as alice:
        created = await alice.post(
            "/api/v1/cases", json={"title": "Checkout slow", "tags": ["DB"], "session_id": "s-1", "metadata": {"k": 1}}
        )
        assert created.status_code == 201
        case_id = created.json()["case_id"]
        [row] = await watch.new()
        assert events_of([row]) == [("case.created", 1)]
        envelope = row.envelope
        assert envelope["correlation_id"] == created.headers["X-Correlation-ID"] == "corr-alice-1"
        assert envelope["aggregate_id"] == case_id
        assert envelope["producer"] == "fm-case-service"
        assert envelope["schema_version"] == "1.0.0"
        payload = envelope["payload"]
        assert {k: payload[k] for k in ("case_id", "title", "tags", "session_id", "metadata", "status", "version")} == {
            "case_id": case_id,
            "title": "Checkout slow",
            "tags": ["db"],
            "session_id": "s-1",
            "metadata": {"k": 1},
            "status": "active",
            "version": 1,
        }

        async def call(method: str, path: str, expected_status: int, **kwargs: Any) -> list[Any]:
            response: Response = await alice.request(method, f"/api/v1/cases/{case_id}{path}", **kwargs)
            assert response.status_code == expected_status, response.text
            return await watch.new()

        [row] = await call("PUT", "", 200, json={"title": "Checkout very slow", "severity": "high", "description": ""})
        assert events_of([row]) == [("case.updated", 2)]
        assert row.envelope["payload"]["changes"] == {
            "title": {"old": "Checkout slow", "new": "Checkout very slow"},
            "severity": {"old": "medium", "new": "high"},
        }
        assert await call("PUT", "", 200, json={"severity": "high"}) == []  # no change, no event
        assert await call("PUT", "", 422, json={"severity": "extreme"}) == []

        [row] = await call("POST", "/tags", 200, json={"tags": ["Outage", "db"]})
        assert events_of([row]) == [("case.updated", 3)]
        assert row.envelope["payload"]["changes"] == {"tags": {"old": ["db"], "new": ["db", "outage"]}}
        assert await call("POST", "/tags", 200, json={"tags": ["outage"]}) == []
        [row] = await call("DELETE", "/tags/DB", 200)
        assert row.envelope["payload"]["changes"] == {"tags": {"old": ["db", "outage"], "new": ["outage"]}}
        assert await call("DELETE", "/tags/db", 200) == []

        [row] = await call("POST", "/status", 200, json={"status": "investigating", "reason": "Reproduced"})
        assert events_of([row]) == [("case.status_changed", 5)]
        assert row.envelope["payload"] == {
            "case_id": case_id,
            "user_id": "alice",
            "from_status": "active",
            "to_status": "investigating",
            "reason": "Reproduced",
        }
        assert await call("POST", "/status", 409, json={"status": "archived"}) == []

        [row] = await call("POST", "/messages", 201, json={"role": "user", "content": "secret token abc"})
        assert events_of([row]) == [("case.message.added", 6)]
        assert row.envelope["payload"]["content_length"] == len("secret token abc")
        assert "secret token abc" not in str(row.envelope)  # a reference, not the content

        async with client_for(app, "mallory") as mallory:
            assert (await mallory.delete(f"/api/v1/cases/{case_id}")).status_code == 404
        assert await watch.new() == []

        [row] = await call("DELETE", "", 204)
        assert events_of([row]) == [("case.deleted", 7)]
        assert row.envelope["payload"] == {"case_id": case_id, "user_id": "alice", "reason": "user_request"}
        assert row.headers["ce-subject"] == case_id


@pytest.mark.parametrize(
    ("headers", "expected"),
    [({"X-Request-ID": "req-42"}, "req-42"), ({"X-Correlation-ID": "c-7", "X-Request-ID": "req-9"}, "c-7")],
)
async def test_the_event_carries_the_correlation_id_the_response_echoes(
    app: FastAPI, headers: dict[str, str], expected: str
) -> None:
    watch = OutboxWatch(app)
    async with client_for(app, "alice", **headers) as alice:
        response = await alice.post("/api/v1/cases", json={"title": "Traced"})
    assert response.headers["X-Correlation-ID"] == expected
    [row] = await watch.new()
    assert row.envelope["correlation_id"] == expected


async def test_a_generated_correlation_id_is_echoed_and_carried(app: FastAPI, client: AsyncClient) -> None:
    watch = OutboxWatch(app)
    response = await client.post("/api/v1/cases", json={"title": "Untraced"})
    [row] = await watch.new()
    assert row.envelope["correlation_id"] == response.headers["X-Correlation-ID"]
    assert len(response.headers["X-Correlation-ID"]) >= 16


async def test_a_change_that_fails_after_writing_its_event_leaves_neither(
    app: FastAPI, client: AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The history row breaks a constraint of its table. SQLite has inserted the case and the
    outbox row by then, in the same transaction; PostgreSQL writes all three in one statement.
    Either way nothing stays: no event for a change that did not happen."""
    history_rows = unit_of_work.history_rows

    def rows_without_actor(*args: Any) -> list[dict[str, Any]]:
        return [dict(row, actor_id=None) for row in history_rows(*args)]  # actor_id is NOT NULL

    monkeypatch.setattr(unit_of_work, "history_rows", rows_without_actor)
    monkeypatch.setattr(history, "history_rows", rows_without_actor)
    response = await client.post("/api/v1/cases", json={"title": "Never happened"})
    assert response.status_code == 500
    assert await count_rows(app, cases) == 0
    assert await count_rows(app, event_outbox) == 0
    assert await count_rows(app, case_history) == 0


async def test_a_save_at_a_version_the_case_is_no_longer_at_writes_nothing(app: FastAPI, client: AsyncClient) -> None:
    """The update's version check fails: SQLite's UPDATE matches no row at once; PostgreSQL's
    matches none inside the one statement that also holds the history and outbox rows. Either way
    the change is refused and neither row stays."""
    watch = OutboxWatch(app)
    case_id = (await client.post("/api/v1/cases", json={"title": "Before"})).json()["case_id"]
    assert [row.event_type for row in await watch.new()] == ["case.created"]
    history_before = await count_rows(app, case_history)
    uow_factory = SqlAlchemyUnitOfWorkFactory(app.state.database, "test")
    ctx = RequestContext(actor=Actor(user_id="alice"), correlation_id="stale-save")
    with pytest.raises(ConcurrentModification):
        async with uow_factory(ctx, write=True) as uow:
            case = await uow.cases.get(case_id, "alice")
            assert case is not None
            read_version = case.version
            case.update({"title": "After"}, datetime.now(UTC))
            await uow.cases.save(case, expected_version=read_version + 1)
            await uow.commit()
    assert (await client.get(f"/api/v1/cases/{case_id}")).json()["title"] == "Before"
    assert await watch.new() == []
    assert await count_rows(app, case_history) == history_before


async def test_two_saves_of_a_case_in_one_unit_of_work_write_both_changes_in_order(
    app: FastAPI, client: AsyncClient
) -> None:
    """On PostgreSQL the first save waits for the commit; the second must not overtake it."""
    watch = OutboxWatch(app)
    case_id = (await client.post("/api/v1/cases", json={"title": "First"})).json()["case_id"]
    await watch.new()
    uow_factory = SqlAlchemyUnitOfWorkFactory(app.state.database, "test")
    ctx = RequestContext(actor=Actor(user_id="alice"), correlation_id="two-saves")
    async with uow_factory(ctx, write=True) as uow:
        case = await uow.cases.get(case_id, "alice", for_update=True)
        assert case is not None
        for title in ("Second", "Third"):
            read_version = case.version
            case.update({"title": title}, datetime.now(UTC))
            await uow.cases.save(case, expected_version=read_version)
        await uow.commit()
    stored = (await client.get(f"/api/v1/cases/{case_id}")).json()
    assert (stored["title"], stored["version"]) == ("Third", 3)
    assert [row.aggregate_version for row in await watch.new()] == [2, 3]


async def test_a_unit_of_work_reads_the_case_it_added_and_the_change_it_saved(app: FastAPI) -> None:
    """On PostgreSQL the writes wait for the commit unless another statement comes first: a read
    on the same connection still finds them."""
    uow_factory = SqlAlchemyUnitOfWorkFactory(app.state.database, "test")
    ctx = RequestContext(actor=Actor(user_id="alice"), correlation_id="read-own-writes")
    now = datetime.now(UTC)
    async with uow_factory(ctx, write=True) as uow:
        await uow.cases.add(Case.open(case_id=new_case_id(), user_id="alice", title="Added", now=now))
        [added] = await uow.cases.oldest_of_user("alice", 10)
        assert added.title == "Added"
        added.update({"title": "Saved"}, now)
        await uow.cases.save(added, expected_version=1)
        found = await uow.cases.get(added.case_id, "alice")
        assert found is not None and (found.title, found.version) == ("Saved", 2)
        await uow.commit()


def test_the_contract_has_a_versioned_channel_and_schema_for_every_domain_event() -> None:
    document = contract()
    assert document["asyncapi"].startswith("3.")
    event_types = {cls.event_type for cls in vars(domain_events).values() if isinstance(cls, type) and issubclass(cls, domain_events.DomainEvent) and cls is not domain_events.DomainEvent}
    assert {"case.created", "case.updated", "case.status_changed", "case.message.added", "case.deleted"} <= event_types
    assert channel_addresses() == {event_type: f"{event_type}.v1" for event_type in event_types}


async def test_events_caused_by_platform_events_are_valid_against_the_contract(app: FastAPI, client: AsyncClient) -> None:
    """The consumer's changes go through the same outbox: evidence linked, a status moved by a
    validated hypothesis, every case of a deleted user deleted."""
    watch = OutboxWatch(app)
    case_id = (await client.post("/api/v1/cases", json={"title": "Platform driven"})).json()["case_id"]
    assert (await deliver(client, evidence_event(case_id, "ev_9", uploaded_at="2026-11-15T12:00:00Z"))).status_code < 300
    hypothesis = envelope("hypothesis.validated", {"case_id": case_id, "hypothesis_id": "h1", "confidence": 0.9})
    assert (await deliver(client, hypothesis)).status_code < 300
    assert (await deliver(client, envelope("auth.user.deleted", {"user_id": "alice"}))).status_code < 300
    rows = await watch.new()  # each validated against the contract on the way
    assert [row.event_type for row in rows] == [
        "case.created",
        "case.evidence.added",
        "case.status_changed",
        "case.deleted",
    ]
