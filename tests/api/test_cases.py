"""The documented case calls, through HTTP, on SQLite and PostgreSQL."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from httpx import AsyncClient
from sqlalchemy import func, select

from case_service.adapters.tables import case_status_transitions, case_tags, cases, event_outbox
from tests.conftest import FrozenClock

CASE_ID = re.compile(r"^case_[0-9a-f]{12}$")
OFFSET_TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$")


async def create(client: AsyncClient, **body: object) -> dict:
    response = await client.post("/api/v1/cases", json=body)
    assert response.status_code == 201, response.text
    return response.json()


async def count_rows(app: object, table: object, **where: object) -> int:
    async with app.state.database.connection(write=False) as conn:  # type: ignore[attr-defined]
        stmt = select(func.count()).select_from(table)
        for column, value in where.items():
            stmt = stmt.where(table.c[column] == value)  # type: ignore[attr-defined]
        return int((await conn.execute(stmt)).scalar_one())


# --- create -------------------------------------------------------------------------------------


async def test_create_returns_the_case_with_normalized_fields(client: AsyncClient) -> None:
    body = await create(
        client,
        title="  Database connection timeout ",
        description="Intermittent",
        severity="high",
        category="performance",
        tags=["Database", " timeout", "database"],
        metadata={"service": "checkout", "nested": {"n": 1}},
        session_id="session_1",
    )
    assert CASE_ID.match(body["case_id"])
    assert body["user_id"] == "alice"
    assert body["title"] == "Database connection timeout"
    assert body["tags"] == ["database", "timeout"]
    assert body["metadata"] == {"service": "checkout", "nested": {"n": 1}}
    assert (body["status"], body["severity"], body["category"]) == ("active", "high", "performance")
    assert body["version"] == 1 and body["resolved_at"] is None
    for stamp in ("created_at", "updated_at"):
        assert OFFSET_TIMESTAMP.match(body[stamp]), body[stamp]


async def test_metadata_reads_back_exactly_in_the_case_and_the_list(client: AsyncClient) -> None:
    # PostgreSQL's jsonb keeps integers of any size; a JSON reader such as orjson reads one beyond
    # 64 bits as a float, losing digits. Each must come back exactly, as every other kind of value.
    metadata = {
        "big": 2**70 + 1,
        "negative_big": -(2**65) - 1,
        "in_a_string": "12345678901234567890",
        "largest": 2**63 - 1,
        "ratio": 0.1,
        "text": "délai — 超时",
        "list": [1, "two", None, True, {"n": [2.5e-8]}],
        "empty": {},
    }
    created = await create(client, title="Metadata kinds", metadata=metadata)
    read = (await client.get(f"/api/v1/cases/{created['case_id']}")).json()
    listed = (await client.get("/api/v1/cases")).json()["cases"]
    assert created["metadata"] == read["metadata"] == listed[0]["metadata"] == metadata
    assert type(read["metadata"]["big"]) is type(listed[0]["metadata"]["big"]) is int


async def test_create_applies_the_documented_defaults(client: AsyncClient) -> None:
    body = await create(client, title="Only a title")
    assert (body["severity"], body["category"], body["description"]) == ("medium", "other", "")
    assert body["tags"] == [] and body["metadata"] == {} and body["session_id"] is None


async def test_untitled_cases_are_numbered_per_user_and_utc_day(
    client: AsyncClient, bob: AsyncClient, clock: FrozenClock
) -> None:
    clock.now = datetime(2026, 3, 7, 23, 59, tzinfo=UTC)
    assert (await create(client))["title"] == "Case-0307-1"
    await create(client, title="Named")  # titled cases count too
    third = await create(client)
    assert third["title"] == "Case-0307-3"
    assert (await create(bob))["title"] == "Case-0307-1"  # another user counts alone
    # Deleting a case never frees its number.
    assert (await client.delete(f"/api/v1/cases/{third['case_id']}")).status_code == 204
    assert (await create(client))["title"] == "Case-0307-4"
    clock.now = datetime(2026, 3, 8, 0, 0, 1, tzinfo=UTC)
    assert (await create(client))["title"] == "Case-0308-1"


async def test_titled_cases_count_however_they_are_written(client: AsyncClient, clock: FrozenClock) -> None:
    """A titled case takes no number; its creation is counted as the case is written, whether the
    create ran nothing before (on PostgreSQL, one statement that commits alone), carried tags, or
    first claimed an Idempotency-Key."""
    clock.now = datetime(2026, 3, 7, 12, 0, tzinfo=UTC)
    await create(client, title="Plain")
    tagged = await create(client, title="Tagged", tags=["vpn", "dns"])
    keyed = await client.post("/api/v1/cases", json={"title": "Keyed"}, headers={"Idempotency-Key": "create-keyed"})
    assert keyed.status_code == 201, keyed.text
    assert (await create(client))["title"] == "Case-0307-4"
    stored = (await client.get(f"/api/v1/cases/{tagged['case_id']}")).json()
    assert sorted(stored["tags"]) == ["dns", "vpn"]


async def test_create_rejects_bad_fields_naming_each_one(client: AsyncClient, app: object) -> None:
    response = await client.post(
        "/api/v1/cases", json={"title": "x" * 201, "severity": "urgent", "metadata": [], "bogus": 1}
    )
    assert response.status_code == 422
    body = response.json()
    assert body["code"] == "validation_error"
    fields = {error["field"] for error in body["details"]["errors"]}
    assert {"title", "severity", "metadata", "bogus"} <= fields
    assert await count_rows(app, cases) == 0


async def test_a_blank_title_is_refused(client: AsyncClient) -> None:
    response = await client.post("/api/v1/cases", json={"title": "   "})
    assert response.status_code == 422
    assert response.json()["details"]["errors"][0]["field"] == "title"


async def test_malformed_json_is_a_400_that_says_so(client: AsyncClient) -> None:
    response = await client.post(
        "/api/v1/cases", content=b'{"title": "x",', headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 400
    assert response.json()["code"] == "malformed_json"


# --- read -----------------------------------------------------------------------------------------


async def test_get_returns_the_callers_case(client: AsyncClient) -> None:
    created = await create(client, title="Mine")
    response = await client.get(f"/api/v1/cases/{created['case_id']}")
    assert response.status_code == 200
    assert response.json() == created


async def test_another_users_case_reads_exactly_like_a_missing_one(client: AsyncClient, bob: AsyncClient) -> None:
    created = await create(client, title="Private")
    theirs = await bob.get(f"/api/v1/cases/{created['case_id']}")
    missing = await bob.get("/api/v1/cases/case_000000000000")
    assert theirs.status_code == missing.status_code == 404
    assert theirs.json()["code"] == missing.json()["code"] == "case_not_found"
    for call in (
        bob.put(f"/api/v1/cases/{created['case_id']}", json={"title": "stolen"}),
        bob.post(f"/api/v1/cases/{created['case_id']}/status", json={"status": "closed"}),
        bob.delete(f"/api/v1/cases/{created['case_id']}"),
    ):
        assert (await call).status_code == 404
    assert (await client.get(f"/api/v1/cases/{created['case_id']}")).json() == created


async def test_a_malformed_case_id_is_not_found(client: AsyncClient) -> None:
    response = await client.get("/api/v1/cases/not-a-case")
    assert response.status_code == 404
    assert response.json()["code"] == "case_not_found"


# --- update ---------------------------------------------------------------------------------------


async def test_put_changes_given_fields_and_keeps_the_rest(client: AsyncClient, clock: FrozenClock) -> None:
    clock.now = datetime(2026, 3, 7, 10, 0, tzinfo=UTC)
    created = await create(client, title="Before", description="keep me", tags=["a"], session_id="s1")
    clock.now += timedelta(minutes=5)
    response = await client.put(
        f"/api/v1/cases/{created['case_id']}", json={"title": "After", "tags": ["B", "c"], "metadata": {"k": 1}}
    )
    assert response.status_code == 200
    updated = response.json()
    assert (updated["title"], updated["tags"], updated["metadata"]) == ("After", ["b", "c"], {"k": 1})
    assert (updated["description"], updated["session_id"], updated["status"]) == ("keep me", "s1", "active")
    assert updated["version"] == 2
    assert updated["updated_at"] > created["updated_at"]
    assert updated["created_at"] == created["created_at"]
    assert (await client.get(f"/api/v1/cases/{created['case_id']}")).json() == updated


async def test_put_with_nothing_new_leaves_the_version_alone(client: AsyncClient) -> None:
    created = await create(client, title="Same", tags=["x"])
    response = await client.put(f"/api/v1/cases/{created['case_id']}", json={"title": "Same", "tags": ["X"]})
    assert response.status_code == 200
    assert response.json() == created


async def test_put_null_session_unlinks_but_null_title_is_refused(client: AsyncClient) -> None:
    created = await create(client, title="Linked", session_id="s1")
    unlinked = await client.put(f"/api/v1/cases/{created['case_id']}", json={"session_id": None})
    assert unlinked.json()["session_id"] is None
    refused = await client.put(f"/api/v1/cases/{created['case_id']}", json={"title": None})
    assert refused.status_code == 422
    assert refused.json()["details"]["errors"][0]["field"] == "title"


async def test_put_cannot_change_status(client: AsyncClient) -> None:
    created = await create(client, title="Case")
    response = await client.put(f"/api/v1/cases/{created['case_id']}", json={"status": "closed"})
    assert response.status_code == 422
    assert (await client.get(f"/api/v1/cases/{created['case_id']}")).json()["status"] == "active"


# --- delete ---------------------------------------------------------------------------------------


async def test_a_deleted_case_is_gone_for_every_read(client: AsyncClient, app: object) -> None:
    created = await create(client, title="Doomed", tags=["x"], session_id="s1")
    case_id = created["case_id"]
    await client.post(f"/api/v1/cases/{case_id}/status", json={"status": "investigating"})
    response = await client.delete(f"/api/v1/cases/{case_id}")
    assert response.status_code == 204 and response.content == b""
    assert (await client.get(f"/api/v1/cases/{case_id}")).status_code == 404
    assert (await client.get("/api/v1/cases", params={"include_total": "true"})).json()["total"] == 0
    assert (await client.get("/api/v1/cases/session/s1")).json()["cases"] == []
    assert (await client.delete(f"/api/v1/cases/{case_id}")).status_code == 404
    assert await count_rows(app, case_tags, case_id=case_id) == 0
    assert await count_rows(app, case_status_transitions, case_id=case_id) == 0


# --- list -----------------------------------------------------------------------------------------


async def test_list_is_newest_first_with_same_instant_ties_in_creation_order(
    client: AsyncClient, clock: FrozenClock
) -> None:
    clock.now = datetime(2026, 3, 7, 10, 0, tzinfo=UTC)
    first = await create(client, title="first")
    second = await create(client, title="second")  # same instant
    clock.now += timedelta(seconds=1)
    third = await create(client, title="third")
    body = (await client.get("/api/v1/cases")).json()
    assert [c["case_id"] for c in body["cases"]] == [third["case_id"], second["case_id"], first["case_id"]]
    assert (body["total"], body["total_included"], body["limit"], body["offset"]) == (None, False, 50, 0)
    assert body["next_cursor"] is None


async def test_list_shows_only_the_callers_cases(client: AsyncClient, bob: AsyncClient) -> None:
    await create(client, title="alice's")
    await create(bob, title="bob's")
    body = (await bob.get("/api/v1/cases")).json()
    assert [c["title"] for c in body["cases"]] == ["bob's"]


async def test_list_pages_with_limit_and_offset(client: AsyncClient) -> None:
    titles = [f"case {i}" for i in range(5)]
    for title in titles:
        await create(client, title=title)
    page = (await client.get("/api/v1/cases", params={"limit": 2, "offset": 1, "include_total": "true"})).json()
    assert [c["title"] for c in page["cases"]] == ["case 3", "case 2"]
    assert (page["total"], page["total_included"], page["limit"], page["offset"]) == (5, True, 2, 1)


async def test_a_limit_above_the_maximum_is_refused_naming_the_maximum(client: AsyncClient) -> None:
    response = await client.get("/api/v1/cases", params={"limit": 101})
    assert response.status_code == 422
    assert "100" in response.json()["error"]
    assert response.json()["details"]["errors"][0]["field"] == "limit"
    for bad in ({"limit": 0}, {"offset": -1}, {"limit": "ten"}):
        assert (await client.get("/api/v1/cases", params=bad)).status_code == 422


async def test_list_filters_combine_and_repeat(client: AsyncClient) -> None:
    a = await create(client, title="a", severity="high", category="error", tags=["db"], session_id="s1")
    b = await create(client, title="b", severity="low", category="error", tags=["net"], session_id="s2")
    c = await create(client, title="c", severity="critical", category="security", tags=["db", "net"])
    await client.post(f"/api/v1/cases/{c['case_id']}/status", json={"status": "investigating"})

    async def ids(params: list[tuple[str, str]]) -> set[str]:
        response = await client.get("/api/v1/cases", params=[*params, ("include_total", "true")])
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["total"] == len(body["cases"])
        return {case["case_id"] for case in body["cases"]}

    assert await ids([("severity", "high"), ("severity", "critical")]) == {a["case_id"], c["case_id"]}
    assert await ids([("status", "investigating")]) == {c["case_id"]}
    assert await ids([("category", "error"), ("tag", " DB ")]) == {a["case_id"]}
    assert await ids([("tag", "db"), ("tag", "net")]) == {a["case_id"], b["case_id"], c["case_id"]}
    assert await ids([("session_id", "s1"), ("session_id", "s2")]) == {a["case_id"], b["case_id"]}
    assert await ids([("status", "closed")]) == set()
    assert (await client.get("/api/v1/cases", params={"status": "bogus"})).status_code == 422


async def test_session_listing_returns_the_callers_cases_of_that_session(
    client: AsyncClient, bob: AsyncClient
) -> None:
    mine = await create(client, title="mine", session_id="shared-session")
    await create(client, title="other session", session_id="elsewhere")
    await create(bob, title="bob's", session_id="shared-session")
    body = (await client.get("/api/v1/cases/session/shared-session", params={"include_total": "true"})).json()
    assert [c["case_id"] for c in body["cases"]] == [mine["case_id"]]
    assert (body["total"], body["limit"], body["offset"]) == (1, 50, 0)


# --- status ---------------------------------------------------------------------------------------


async def test_status_moves_follow_the_machine_and_are_recorded(
    client: AsyncClient, app: object, clock: FrozenClock
) -> None:
    clock.now = datetime(2026, 3, 7, 10, 0, tzinfo=UTC)
    case_id = (await create(client, title="Flaky"))["case_id"]
    url = f"/api/v1/cases/{case_id}/status"
    clock.now += timedelta(minutes=1)
    investigating = (await client.post(url, json={"status": "investigating", "reason": "on it"})).json()
    assert (investigating["status"], investigating["version"]) == ("investigating", 2)
    clock.now += timedelta(minutes=1)
    resolved = (await client.post(url, json={"status": "resolved"})).json()
    assert resolved["resolved_at"] == resolved["updated_at"]
    reopened = (await client.post(url, json={"status": "investigating", "reason": "back"})).json()
    assert reopened["resolved_at"] is None
    async with app.state.database.connection(write=False) as conn:  # type: ignore[attr-defined]
        rows = (
            await conn.execute(
                select(case_status_transitions).where(case_status_transitions.c.case_id == case_id)
                .order_by(case_status_transitions.c.id)
            )
        ).all()  # fmt: skip
    assert [(r.from_status, r.to_status, r.reason, r.actor_id) for r in rows] == [
        ("active", "investigating", "on it", "alice"),
        ("investigating", "resolved", None, "alice"),
        ("resolved", "investigating", "back", "alice"),
    ]


async def test_a_refused_move_is_409_naming_the_allowed_targets_and_changes_nothing(
    client: AsyncClient, app: object, clock: FrozenClock
) -> None:
    clock.now = datetime(2026, 3, 7, 10, 0, tzinfo=UTC)
    created = await create(client, title="Not yet")
    clock.now += timedelta(hours=1)
    response = await client.post(f"/api/v1/cases/{created['case_id']}/status", json={"status": "resolved"})
    assert response.status_code == 409
    body = response.json()
    assert body["code"] == "invalid_status_transition"
    assert body["details"]["current_status"] == "active"
    assert body["details"]["allowed_statuses"] == ["investigating", "closed"]
    assert (await client.get(f"/api/v1/cases/{created['case_id']}")).json() == created
    assert await count_rows(app, case_status_transitions) == 0
    assert await count_rows(app, event_outbox, aggregate_id=created["case_id"]) == 1  # only case.created


async def test_an_unknown_status_is_a_validation_error(client: AsyncClient) -> None:
    case_id = (await create(client, title="x"))["case_id"]
    response = await client.post(f"/api/v1/cases/{case_id}/status", json={"status": "consulting"})
    assert response.status_code == 422
    assert response.json()["details"]["errors"][0]["field"] == "status"


# --- events written with the change ---------------------------------------------------------------


async def test_each_change_writes_its_event_with_the_next_version(client: AsyncClient, app: object) -> None:
    case_id = (await create(client, title="Evented"))["case_id"]
    await client.put(f"/api/v1/cases/{case_id}", json={"severity": "high"})
    await client.put(f"/api/v1/cases/{case_id}", json={"severity": "high"})  # no change, no event
    await client.post(f"/api/v1/cases/{case_id}/status", json={"status": "closed"})
    await client.post(f"/api/v1/cases/{case_id}/status", json={"status": "resolved"})  # refused
    await client.delete(f"/api/v1/cases/{case_id}")
    async with app.state.database.connection(write=False) as conn:  # type: ignore[attr-defined]
        rows = (
            await conn.execute(
                select(event_outbox.c.event_type, event_outbox.c.aggregate_version, event_outbox.c.envelope)
                .where(event_outbox.c.aggregate_id == case_id)
                .order_by(event_outbox.c.aggregate_version)
            )
        ).all()
    assert [(r.event_type, r.aggregate_version) for r in rows] == [
        ("case.created", 1),
        ("case.updated", 2),
        ("case.status_changed", 3),
        ("case.deleted", 4),
    ]
    assert rows[1].envelope["payload"]["changes"] == {"severity": {"old": "medium", "new": "high"}}
    assert rows[2].envelope["payload"]["from_status"] == "active"
