"""Dashboard counts and batch lookup, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from httpx import AsyncClient

from tests.api.helpers import create
from tests.conftest import FrozenClock

START = datetime(2026, 3, 7, 10, 0, tzinfo=UTC)


async def resolve(client: AsyncClient, clock: FrozenClock, case_id: str, after: timedelta) -> None:
    before = clock.now
    clock.now = (before or START) + after
    for status in ("investigating", "resolved"):
        assert (await client.post(f"/api/v1/cases/{case_id}/status", json={"status": status})).status_code == 200
    clock.now = before


async def test_stats_count_the_selected_cases_in_every_dimension(
    client: AsyncClient, bob: AsyncClient, clock: FrozenClock
) -> None:
    clock.now = START - timedelta(days=2)
    a = await create(client, title="a", severity="high", category="error", tags=["db", "net"])
    clock.now = START - timedelta(days=1)
    b = await create(client, title="b", severity="high", category="performance", tags=["db"])
    c = await create(client, title="c", severity="low", tags=["ui"])
    clock.now = START
    d = await create(client, title="d", severity="critical", category="security", tags=["db"])
    await create(bob, title="bob's", severity="low", tags=["db"])
    await resolve(client, clock, a["case_id"], timedelta(seconds=100))  # 2 days + 100 s after creation
    await resolve(client, clock, b["case_id"], timedelta(seconds=10))  # 1 day + 10 s
    await resolve(client, clock, d["case_id"], timedelta(seconds=40.5))
    await client.post(f"/api/v1/cases/{c['case_id']}/status", json={"status": "closed"})

    response = await client.get("/api/v1/cases/stats", params={"days": 3})
    assert response.status_code == 200, response.text
    stats = response.json()
    assert stats["total"] == 4
    assert stats["by_status"] == {"active": 0, "investigating": 0, "resolved": 3, "closed": 1, "archived": 0}
    assert stats["by_severity"] == {"low": 1, "medium": 0, "high": 2, "critical": 1}
    assert stats["by_category"] == {
        "performance": 1,
        "error": 1,
        "configuration": 0,
        "infrastructure": 0,
        "security": 1,
        "other": 1,
    }
    assert stats["top_tags"] == [{"tag": "db", "count": 3}, {"tag": "net", "count": 1}, {"tag": "ui", "count": 1}]
    assert (stats["open"], stats["resolved"]) == (0, 3)
    assert stats["created_per_day"] == [
        {"day": "2026-03-05", "count": 1},
        {"day": "2026-03-06", "count": 2},
        {"day": "2026-03-07", "count": 1},
    ]
    durations = sorted([2 * 86400 + 100, 86400 + 10, 40.5])
    assert stats["time_to_resolve"] == {
        "resolved_cases": 3,
        "mean_seconds": round(sum(durations) / 3, 3),
        "median_seconds": durations[1],
    }


async def test_stats_take_the_list_filters_and_search(client: AsyncClient, clock: FrozenClock) -> None:
    clock.now = START
    first = await create(client, title="disk full", severity="high")
    await create(client, title="disk slow", severity="low")
    await create(client, title="cpu hot", severity="high")
    await resolve(client, clock, first["case_id"], timedelta(seconds=30))
    await resolve(client, clock, (await create(client, title="disk gone"))["case_id"], timedelta(seconds=60))

    stats = (await client.get("/api/v1/cases/stats", params={"q": "disk", "severity": "high"})).json()
    assert stats["total"] == 1 and stats["by_severity"]["high"] == 1
    disk = (await client.get("/api/v1/cases/stats", params={"q": "disk"})).json()
    assert disk["total"] == 3 and (disk["open"], disk["resolved"]) == (1, 2)
    # An even count: the median is the mean of the middle two.
    assert disk["time_to_resolve"] == {"resolved_cases": 2, "mean_seconds": 45.0, "median_seconds": 45.0}
    none = (await client.get("/api/v1/cases/stats", params={"resolved": "false", "severity": "low"})).json()
    assert none["time_to_resolve"] == {"resolved_cases": 0, "mean_seconds": None, "median_seconds": None}
    assert len(none["created_per_day"]) == 30 and none["created_per_day"][-1] == {"day": "2026-03-07", "count": 1}
    for bad in ({"days": 0}, {"days": 367}, {"q": '"open'}, {"created_after": "2026-01-01T00:00:00"}):
        assert (await client.get("/api/v1/cases/stats", params=bad)).status_code == 422, bad


async def test_stats_of_a_user_without_cases_are_zeros(client: AsyncClient) -> None:
    stats = (await client.get("/api/v1/cases/stats", params={"days": 1})).json()
    assert stats["total"] == 0 and stats["top_tags"] == [] and stats["open"] == 0
    assert set(stats["by_status"].values()) == {0}
    assert [entry["count"] for entry in stats["created_per_day"]] == [0]


async def test_batch_answers_each_id_in_order_and_hides_other_users_cases(
    client: AsyncClient, bob: AsyncClient
) -> None:
    mine = await create(client, title="mine", tags=["db"])
    other = await create(client, title="other")
    bobs = await create(bob, title="bob's")
    ids = [other["case_id"], "case_000000000000", bobs["case_id"], mine["case_id"], "not-an-id", other["case_id"]]
    response = await client.post("/api/v1/cases/batch", json={"case_ids": ids})
    assert response.status_code == 200, response.text
    results = response.json()["results"]
    assert [(r["case_id"], r["result"]) for r in results] == [
        (other["case_id"], "found"),
        ("case_000000000000", "not_found"),
        (bobs["case_id"], "not_found"),
        (mine["case_id"], "found"),
        ("not-an-id", "not_found"),
        (other["case_id"], "found"),
    ]
    assert results[3]["case"] == (await client.get(f"/api/v1/cases/{mine['case_id']}")).json()
    assert results[1]["case"] is None and results[2]["case"] is None


async def test_batch_limits_are_enforced(client: AsyncClient) -> None:
    hundred = [f"case_{i:012x}" for i in range(100)]
    assert (await client.post("/api/v1/cases/batch", json={"case_ids": hundred})).status_code == 200
    for body in (
        {"case_ids": [*hundred, "case_ffffffffffff"]},
        {"case_ids": []},
        {"case_ids": "case_000000000000"},
        {"case_ids": ["x" * 65]},
        {"case_ids": [None]},
        {},
        {"case_ids": ["case_000000000000"], "extra": 1},
    ):
        response = await client.post("/api/v1/cases/batch", json=body)
        assert response.status_code == 422, body
        assert response.json()["code"] == "validation_error"
    nul = await client.post("/api/v1/cases/batch", json={"case_ids": ["case_\u0000"]})
    assert nul.status_code == 200 and nul.json()["results"][0]["result"] == "not_found"
