"""The audit trail and the reachable statuses, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from httpx import AsyncClient
from sqlalchemy import select

from case_service.adapters.tables import case_history
from tests.api.helpers import create, post_message
from tests.conftest import FrozenClock, client_for


async def history_rows(app: object, case_id: str) -> list[dict]:
    async with app.state.database.connection(write=False) as conn:  # type: ignore[attr-defined]
        rows = await conn.execute(select(case_history).where(case_history.c.case_id == case_id).order_by(case_history.c.id))
        return [dict(row._mapping) for row in rows]


async def test_every_mutating_call_leaves_one_audit_row_with_actor_time_and_correlation_id(
    app: object, clock: FrozenClock
) -> None:
    t0 = datetime(2026, 11, 22, 8, 0, tzinfo=UTC)
    headers = {"X-User-Email": "alice@example.com"}
    async with client_for(app, "alice", **headers) as alice:

        async def call(n: int, method: str, url: str, **kwargs: object) -> None:
            clock.now = t0 + timedelta(minutes=n)
            response = await alice.request(method, url, headers={"X-Correlation-ID": f"corr-{n}"}, **kwargs)
            assert response.status_code < 300, response.text

        clock.now = t0
        created = await alice.post(
            "/api/v1/cases", json={"title": "Disk full", "tags": ["disk"]}, headers={"X-Correlation-ID": "corr-0"}
        )
        case_id = created.json()["case_id"]
        base = f"/api/v1/cases/{case_id}"
        await call(1, "PUT", base, json={"title": "Disk really full", "severity": "high"})
        await call(2, "POST", f"{base}/status", json={"status": "investigating", "reason": "Reproduced"})
        await call(3, "POST", f"{base}/tags", json={"tags": ["Storage"]})
        await call(4, "DELETE", f"{base}/tags/disk")
        await call(5, "POST", f"{base}/messages", json={"role": "user", "content": "df says 100%"})
        # Calls that change nothing have nothing to audit.
        await call(6, "PUT", base, json={"severity": "high"})
        await call(7, "POST", f"{base}/tags", json={"tags": ["storage"]})
        await call(8, "DELETE", f"{base}/tags/absent")

        history = (await alice.get(f"{base}/history")).json()

    assert history["total"] == 6
    entries = history["entries"]
    assert [e["event_type"] for e in entries] == [
        "case.message.added",
        "case.updated",
        "case.updated",
        "case.status_changed",
        "case.updated",
        "case.created",
    ]
    assert [e["version"] for e in entries] == [6, 5, 4, 3, 2, 1]
    assert [e["correlation_id"] for e in entries] == ["corr-5", "corr-4", "corr-3", "corr-2", "corr-1", "corr-0"]
    assert [datetime.fromisoformat(e["occurred_at"]) for e in entries] == [
        t0 + timedelta(minutes=n) for n in (5, 4, 3, 2, 1, 0)
    ]
    assert {(e["actor"]["user_id"], e["actor"]["email"]) for e in entries} == {("alice", "alice@example.com")}
    message, removed, added, moved, updated, opened = (e["details"] for e in entries)
    assert opened["title"] == "Disk full" and opened["tags"] == ["disk"] and opened["status"] == "active"
    assert updated == {
        "changes": {"title": {"old": "Disk full", "new": "Disk really full"}, "severity": {"old": "medium", "new": "high"}}
    }
    assert moved == {"from_status": "active", "to_status": "investigating", "reason": "Reproduced"}
    assert added["changes"]["tags"] == {"old": ["disk"], "new": ["disk", "storage"], "added": ["storage"], "removed": []}
    assert removed["changes"]["tags"] == {"old": ["disk", "storage"], "new": ["storage"], "added": [], "removed": ["disk"]}
    assert message["sequence"] == 1 and message["role"] == "user" and message["content_length"] == 12
    assert "content" not in message


async def test_history_is_newest_first_and_pages(client: AsyncClient) -> None:
    case_id = (await create(client))["case_id"]
    for n in range(4):
        await post_message(client, case_id, f"m{n}")
    url = f"/api/v1/cases/{case_id}/history"
    page = (await client.get(url, params={"limit": 2, "offset": 1})).json()
    assert (page["total"], page["limit"], page["offset"]) == (5, 2, 1)
    assert [e["version"] for e in page["entries"]] == [4, 3]
    assert (await client.get(url, params={"limit": 101})).status_code == 422


async def test_no_api_edits_or_deletes_history(client: AsyncClient) -> None:
    case_id = (await create(client))["case_id"]
    url = f"/api/v1/cases/{case_id}/history"
    for method in ("POST", "PUT", "PATCH", "DELETE"):
        assert (await client.request(method, url, json={})).status_code == 405, method
    assert (await client.get(url)).json()["total"] == 1


async def test_deleting_a_case_removes_its_history_but_keeps_a_tombstone_of_who_deleted_it(
    app: object, clock: FrozenClock
) -> None:
    async with client_for(app, "alice", **{"X-User-Email": "alice@example.com"}) as alice:
        case_id = (await create(alice, title="Secret project"))["case_id"]
        other = (await create(alice))["case_id"]
        await post_message(alice, case_id, "hi")
        clock.now = datetime(2026, 11, 22, 9, 0, tzinfo=UTC)
        response = await alice.delete(f"/api/v1/cases/{case_id}", headers={"X-Correlation-ID": "corr-del"})
        assert response.status_code == 204
        assert (await alice.get(f"/api/v1/cases/{case_id}/history")).status_code == 404

    [tombstone] = await history_rows(app, case_id)
    assert tombstone["event_type"] == "case.deleted"
    assert (tombstone["actor_id"], tombstone["actor_email"], tombstone["correlation_id"]) == (
        "alice",
        "alice@example.com",
        "corr-del",
    )
    assert tombstone["user_id"] == "alice" and tombstone["version"] == 3
    assert tombstone["occurred_at"] == clock.now
    assert "Secret project" not in str(tombstone)  # nothing of the case's content survives it
    assert len(await history_rows(app, other)) == 1  # other cases keep theirs


async def test_transitions_name_the_statuses_reachable_now(client: AsyncClient) -> None:
    case_id = (await create(client))["case_id"]
    url = f"/api/v1/cases/{case_id}/transitions"
    assert (await client.get(url)).json() == {
        "case_id": case_id,
        "current_status": "active",
        "allowed_statuses": ["investigating", "closed"],
        "version": 1,
    }
    for target in ("closed", "archived"):
        await client.post(f"/api/v1/cases/{case_id}/status", json={"status": target})
    assert (await client.get(url)).json()["allowed_statuses"] == []


async def test_a_refused_call_leaves_no_audit_row(client: AsyncClient, app: object) -> None:
    case_id = (await create(client))["case_id"]
    base = f"/api/v1/cases/{case_id}"
    assert (await client.post(f"{base}/status", json={"status": "archived"})).status_code == 409
    assert (await client.put(base, json={"severity": "urgent"})).status_code == 422
    assert (await client.post(f"{base}/messages", json={"role": "user", "content": " "})).status_code == 422
    assert (await client.post(f"{base}/tags", json={"tags": [f"t{i}" for i in range(21)]})).status_code == 422
    assert [row["event_type"] for row in await history_rows(app, case_id)] == ["case.created"]
