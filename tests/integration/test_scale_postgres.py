"""At volume, list, search, deep cursor pages and stats read indexes, never the whole cases table.

PostgreSQL-only: the indexes and plans under test are PostgreSQL's (SQLite is the small, local
store). The test loads 150,000 cases in its own database with set-based SQL (a few seconds):
1,380 users with 100 cases each, as at 1M cases / 10k users, and one heavy user with 12,000 so a
cursor can go 10,000 rows deep. It captures the SQL the API runs and checks each statement's plan.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import asyncpg
import pytest
from httpx import AsyncClient
from sqlalchemy import event

from case_service.main import create_app
from tests.conftest import client_for, make_settings, migrate

pytestmark = pytest.mark.postgres_only

USERS, PER_USER, HEAVY = 1380, 100, 12_000
WORDS = "timeout database checkout latency memory disk network queue kafka redis cache login payment deploy"

_LOAD = f"""
INSERT INTO cases (case_id, user_id, session_id, title, description, status, severity, category, metadata,
                   created_at, updated_at, resolved_at, version, message_count, last_activity_at)
SELECT 'case_' || lpad(to_hex(n), 12, '0'),
       CASE WHEN n <= {HEAVY} THEN 'heavy' ELSE 'user' || (n % {USERS}) END,
       CASE WHEN n % 3 = 0 THEN 'session' || (n % 500) END,
       initcap(w[1 + n % 14]) || ' ' || w[1 + (n / 14) % 14] || ' issue ' || n,
       'Seen on ' || w[1 + (n / 7) % 14] || ' and ' || w[1 + (n / 3) % 14] || ' after the release'
         || CASE WHEN n % 10 = 0 THEN ' with replication lag' ELSE '' END,
       (ARRAY['active','investigating','resolved','closed','archived'])[1 + n % 5],
       (ARRAY['low','medium','high','critical'])[1 + (n / 5) % 4],
       (ARRAY['performance','error','configuration','infrastructure','security','other'])[1 + n % 6],
       '{{}}'::jsonb,
       created, created + interval '1 hour',
       CASE WHEN n % 5 = 2 THEN created + (n % 7200) * interval '1 second' END,
       1, 0, created + interval '1 hour'
FROM (SELECT n, string_to_array('{WORDS}', ' ') AS w,
             timestamptz '2026-01-01 00:00:00+00' + (n % 300) * interval '1 day' + n * interval '1 millisecond'
               AS created
      FROM generate_series(1, {USERS * PER_USER + HEAVY}) AS n) AS source;
SET session_replication_role = replica;  -- tags without their per-row search refresh
INSERT INTO case_tags (case_id, tag, user_id)
SELECT case_id, (ARRAY['db','net','ui','auth'])[1 + seq % 4], user_id FROM cases WHERE seq % 2 = 0;
SET session_replication_role = origin;
INSERT INTO case_messages (message_id, case_id, sequence, role, content, metadata, created_at)
SELECT 'msg_' || seq, case_id, 1, 'user', 'The payment was retried after the release', '{{}}'::jsonb, created_at
FROM cases WHERE seq % 2 = 1;
"""


@pytest.fixture(scope="module")
def loaded_database(postgres_server: Callable[[], str]) -> str:
    url = postgres_server()
    migrate(url)

    async def load() -> None:
        conn = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://", 1))
        try:
            await conn.execute(_LOAD)
            # As autovacuum does after a load: statistics, and the GIN indexes' pending entries
            # moved into the index proper (which is how PostgreSQL then costs reading them).
            await conn.execute("VACUUM ANALYZE")
        finally:
            await conn.close()

    asyncio.run(load())
    return url


class StatementLog:
    """The SQL statements (with their parameters) the app sends, to explain them afterwards: those
    SQLAlchemy executes, and those the service runs through asyncpg itself (a list page)."""

    def __init__(self) -> None:
        self.statements: list[tuple[str, Any]] = []

    def watch(self, engine: Any) -> None:
        event.listen(engine, "before_cursor_execute", self._executed)
        event.listen(engine, "checkout", self._checked_out)

    def unwatch(self, engine: Any) -> None:
        event.remove(engine, "before_cursor_execute", self._executed)
        event.remove(engine, "checkout", self._checked_out)

    def _executed(self, conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, many: bool) -> None:
        self._log(statement, parameters)

    def _checked_out(self, dbapi_connection: Any, record: Any, proxy: Any) -> None:
        # asyncpg keeps its loggers in a set: adding at every checkout adds this one once.
        dbapi_connection.driver_connection.add_query_logger(self._ran_by_driver)

    def _ran_by_driver(self, record: Any) -> None:
        self._log(record.query, tuple(record.args))

    def _log(self, statement: str, parameters: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT") and " cases" in statement:
            self.statements.append((statement, parameters))

    async def take(self) -> list[tuple[str, Any]]:
        """The statements logged so far, the log emptied. asyncpg calls its query loggers with
        `loop.call_soon` once a statement is done: one pass of the event loop runs every call
        scheduled so far, the last statement's included."""
        await asyncio.sleep(0)
        taken, self.statements = self.statements, []
        return taken


@pytest.fixture
async def api(loaded_database: str) -> AsyncIterator[tuple[AsyncClient, StatementLog, Any]]:
    app = create_app(make_settings(loaded_database, access_log=False))
    log = StatementLog()
    async with app.router.lifespan_context(app):
        engine = app.state.database.engine.sync_engine
        log.watch(engine)
        async with client_for(app, "heavy") as client:
            yield client, log, app
        log.unwatch(engine)


async def plans(app: Any, log: StatementLog) -> list[dict[str, Any]]:
    """EXPLAIN (ANALYZE, FORMAT JSON) of every statement logged, in order; the log is emptied."""
    explained = []
    async with app.state.database.connection(write=False) as conn:
        for statement, parameters in await log.take():
            result = await conn.exec_driver_sql("EXPLAIN (ANALYZE, FORMAT JSON) " + statement, parameters)
            plan = result.scalar_one()
            explained.append(plan[0]["Plan"] if isinstance(plan, list) else plan)
    return explained


def nodes(plan: dict[str, Any]) -> list[dict[str, Any]]:
    found = [plan]
    for child in plan.get("Plans", []):
        found += nodes(child)
    return found


def assert_indexed(plan: dict[str, Any]) -> list[dict[str, Any]]:
    """No sequential scan of `cases`; `cases` is read through an index. Answers its scans of cases."""
    everything = nodes(plan)
    seq = [n for n in everything if n["Node Type"] == "Seq Scan" and n.get("Relation Name") == "cases"]
    assert not seq, f"sequential scan of cases: {plan}"
    scans = [n for n in everything if n.get("Relation Name") == "cases" or n.get("Index Name", "").startswith("ix_cases")]
    assert scans, f"cases is not read through an index: {plan}"
    return scans


async def get(client: AsyncClient, **params: Any) -> dict[str, Any]:
    response = await client.get("/api/v1/cases", params=params)
    assert response.status_code == 200, response.text
    return response.json()


@pytest.mark.parametrize("sort", ["-created_at", "created_at", "-updated_at", "severity", "-status", "title"])
async def test_first_and_ten_thousandth_row_pages_read_one_page_of_index(
    api: tuple[AsyncClient, StatementLog, Any], sort: str
) -> None:
    client, log, app = api
    first = await get(client, sort=sort, limit=50)
    first_plan = (await plans(app, log))[0]
    cursor = first["next_cursor"]
    for _ in range(199):  # 200 pages of 50: the next page starts at row 10,001
        cursor = (await get(client, sort=sort, limit=50, cursor=cursor))["next_cursor"]
    await log.take()
    deep = await get(client, sort=sort, limit=50, cursor=cursor)
    assert len(deep["cases"]) == 50
    deep_plan = (await plans(app, log))[0]
    for plan in (first_plan, deep_plan):
        scans = assert_indexed(plan)
        # Keyset: the index is entered at the cursor, so only a page (+1 to know there is more) is read.
        assert max(scan["Actual Rows"] for scan in scans) <= 51, (sort, plan)


@pytest.mark.parametrize(
    "params",
    [
        {"q": "kafka"},
        {"q": "time* checkout"},
        {"q": '"after the release" redis'},
        {"q": "kafka", "sort": "-created_at"},
        {"q": "memory", "severity": "high", "status": "active"},
        {"q": "payment", "in": "messages"},
    ],
)
async def test_search_uses_the_indexes(api: tuple[AsyncClient, StatementLog, Any], params: dict[str, Any]) -> None:
    client, log, app = api
    body = await get(client, **params, limit=50)
    assert body["cases"]
    for plan in await plans(app, log):
        assert_indexed(plan)
    # The same search for a user with 100 cases.
    async with client_for(app, "user7") as other:
        assert (await other.get("/api/v1/cases", params=params)).status_code == 200
    for plan in await plans(app, log):
        assert_indexed(plan)


async def test_filters_total_and_stats_use_the_indexes(api: tuple[AsyncClient, StatementLog, Any]) -> None:
    client, log, app = api
    await get(client, status="resolved", created_after="2026-05-01T00:00:00Z", include_total="true")
    await get(client, tag="db", has_session="true", sort="-severity")
    await get(client, updated_before="2026-03-01T00:00:00Z", sort="-updated_at")
    stats = await client.get("/api/v1/cases/stats", params={"days": 366})
    assert stats.status_code == 200 and stats.json()["total"] == HEAVY
    assert stats.json()["time_to_resolve"]["resolved_cases"] == HEAVY // 5
    batch = await client.post("/api/v1/cases/batch", json={"case_ids": [f"case_{n:012x}" for n in range(1, 101)]})
    assert [r["result"] for r in batch.json()["results"]] == ["found"] * 100
    explained = await plans(app, log)
    assert len(explained) >= 8
    for plan in explained:
        assert_indexed(plan)


@pytest.mark.parametrize("plan_cache_mode", ["force_custom_plan", "force_generic_plan"])
@pytest.mark.parametrize(
    "params",
    [
        {"q": "timeout"},
        {"q": "replication lag"},
        {"q": "timeout database"},
        {"q": "redis", "include_total": "true"},
        {"q": "payment", "in": "messages"},
    ],
)
async def test_a_search_reads_only_its_users_entries_in_any_plan(
    api: tuple[AsyncClient, StatementLog, Any], params: dict[str, Any], plan_cache_mode: str
) -> None:
    """For a user of 100 cases, each with at most one message, no step of a search may read more
    than 100 rows or index entries. Two plans did: intersecting the user's index with an index of
    the words alone, which reads every user's matches, and looking the words up in every user's
    messages. PostgreSQL took the first when it misjudged how many cases the words match (words
    that come together, as "replication lag" does in a tenth of the cases, are counted as
    independent), and may settle from a prepared statement's sixth execution on a generic plan made
    without the values. Each search statement is explained here in both kinds of plan, forced."""
    _, log, app = api
    async with client_for(app, "user10") as light:  # 100 cases, every one with "replication lag"
        assert (await light.get("/api/v1/cases", params={**params, "limit": 20})).status_code == 200
    statements = await log.take()
    assert statements
    for plan in await forced_plans(app, statements, plan_cache_mode):
        assert_indexed(plan)
        for node in nodes(plan):
            if node.get("Relation Name") in ("cases", "case_messages") or "Index Name" in node:
                assert node["Actual Rows"] * node["Actual Loops"] <= PER_USER, (node, plan)


@pytest.mark.parametrize("plan_cache_mode", ["force_custom_plan", "force_generic_plan"])
async def test_a_search_in_messages_reads_only_the_messages_of_the_users_cases(
    api: tuple[AsyncClient, StatementLog, Any], plan_cache_mode: str
) -> None:
    """Every other case has a message with "payment": 75,000 messages, 6,000 of them the heavy
    user's. PostgreSQL could test the messages with one hashed lookup of every user's matching
    messages, and chose it for a user it took to hold many cases: for a common word on the
    benchmark's data that read 1.15 million messages. The search must read only the messages of
    the user's own cases, however many cases the user holds."""
    client, log, app = api
    found = await client.get("/api/v1/cases", params={"q": "payment", "in": "messages", "limit": 20})
    assert found.status_code == 200 and len(found.json()["cases"]) == 20
    statements = await log.take()
    assert statements
    for plan in await forced_plans(app, statements, plan_cache_mode):
        messages_read = [
            node["Actual Rows"] * node["Actual Loops"]
            for node in nodes(plan)
            if node.get("Relation Name") == "case_messages"
        ]
        assert messages_read and max(messages_read) <= HEAVY, plan


async def forced_plans(app: Any, statements: list[tuple[str, Any]], plan_cache_mode: str) -> list[dict[str, Any]]:
    """EXPLAIN ANALYZE of each statement as a prepared statement, in the plan cache mode given."""
    explained = []
    async with app.state.database.connection(write=False) as conn:
        await conn.exec_driver_sql(f"SET plan_cache_mode = {plan_cache_mode}")
        for number, (statement, parameters) in enumerate(statements):
            await conn.exec_driver_sql(f"PREPARE probe_{number} AS {statement}")
            arguments = ", ".join(sql_literal(value) for value in parameters)
            result = await conn.exec_driver_sql(f"EXPLAIN (ANALYZE, FORMAT JSON) EXECUTE probe_{number}({arguments})")
            explained.append(result.scalar_one()[0]["Plan"])
            await conn.exec_driver_sql(f"DEALLOCATE probe_{number}")
        await conn.exec_driver_sql("RESET plan_cache_mode")
    return explained


def sql_literal(value: object) -> str:
    """A search statement's parameter as SQL (EXECUTE's arguments cannot be bound parameters)."""
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    assert isinstance(value, int), value
    return str(value)
