"""The benchmark's data set: built once with set-based SQL, reused while the schema and size match.

The schema comes from `alembic upgrade head` (the service's own migrations), so the data set
follows every migration. The rows are generated inside PostgreSQL by `INSERT ... SELECT` over
`generate_series`, with the secondary indexes and foreign keys dropped during the load and rebuilt
after it (one sort per index, one join per foreign key, instead of a million tree inserts and
trigger calls). Every value is derived from the row number, so two builds give the same data.

What the database holds is written in its comment (revision, sizes, layout version). A database of
the same sizes and layout at an older revision is brought to the head with `alembic upgrade head`,
as a deployed database would be; any other mismatch drops it and builds it again.
"""

from __future__ import annotations

import asyncio
import json
import time
import dataclasses
import math
from dataclasses import asdict, dataclass

import asyncpg
from alembic import command
from alembic.script import ScriptDirectory

from case_service.adapters.migrations import alembic_config
from case_service.config import load_settings

# Bump when the generated rows change, so reused databases are rebuilt.
LAYOUT_VERSION = 4
TAGS = [
    "database", "timeout", "network", "dns", "tls", "memory", "cpu", "disk", "latency", "outage",
    "deploy", "rollback", "config", "auth", "permissions", "cache", "queue", "kafka", "redis", "postgres",
    "kubernetes", "pod", "oom", "crashloop", "ingress", "loadbalancer", "certificate", "quota", "billing",
    "api", "gateway", "frontend", "backend", "batch", "cron", "storage", "backup", "replication", "search",
    "logging",
]  # fmt: skip
SERVICES = ["checkout", "payments", "search", "inventory", "auth", "notifications", "reporting", "gateway"]
PROBLEMS = [
    "Database connection timeout", "Checkout latency spike", "Pods restarting in a loop",
    "TLS handshake failures", "Memory leak in worker", "DNS resolution errors", "Queue backlog growing",
    "Slow search queries", "Disk filling up on replica", "Certificate about to expire",
    "Cache hit ratio dropped", "Deploy stuck in rollout", "Permission denied on bucket",
    "Cron job never finished", "Gateway returns 502", "Replication lag on primary",
]  # fmt: skip
MESSAGES = [
    "We see intermittent timeouts from the checkout service since the last deploy.",
    "Check the connection pool size and the database's max_connections first.",
    "The pool is at 10 and saturates at peak; p99 went from 80 ms to 4 s.",
    "Raise the pool to 30 and add a statement timeout so slow queries fail fast.",
    "Error rate is back to baseline after the change; keep watching for an hour.",
    "The logs show OOMKilled on two pods, memory grows linearly with traffic.",
    "A heap profile points at the response cache holding every payload.",
    "Rolled back to the previous image; latency recovered within five minutes.",
]


@dataclass(frozen=True)
class DatasetSpec:
    cases: int = 1_000_000
    users: int = 10_000
    # Owner of case g: floor(users * r ** skew) for a uniform r. With 3 the first user holds about
    # 4.6% of all cases (46,000 of a million), a few more hold thousands, the last ~30.
    skew: float = 3.0


@dataclass(frozen=True)
class Dataset:
    name: str
    dsn: str
    revision: str
    spec: DatasetSpec
    built_seconds: float | None  # None: reused as it was

    @property
    def sqlalchemy_url(self) -> str:
        return self.dsn.replace("postgresql://", "postgresql+asyncpg://", 1)


def _migrations() -> ScriptDirectory:
    return ScriptDirectory.from_config(alembic_config(load_settings(database_url="sqlite+aiosqlite:///:memory:")))


def head_revision() -> str:
    head = _migrations().get_current_head()
    assert head is not None
    return head


def _label(revision: str, spec: DatasetSpec) -> str:
    return json.dumps({"bench": LAYOUT_VERSION, "revision": revision, **asdict(spec)}, sort_keys=True)


def _older_revision(found: str | None, spec: DatasetSpec) -> str | None:
    """The revision of a data set that differs from `spec`'s only by an older schema, else None."""
    try:
        described = json.loads(found or "")
    except ValueError:
        return None
    if not isinstance(described, dict) or "revision" not in described:
        return None
    revision = described.pop("revision")
    if described != {"bench": LAYOUT_VERSION, **asdict(spec)}:
        return None
    ancestors = {step.revision for step in _migrations().walk_revisions()}
    return revision if revision in ancestors else None


async def ensure_dataset(admin_dsn: str, name: str, spec: DatasetSpec, *, log=print) -> Dataset:  # noqa: ANN001
    """The database `name` holding `spec`'s data at the migrations' head, built only when needed."""
    revision = head_revision()
    dataset = Dataset(name, admin_dsn.rsplit("/", 1)[0] + "/" + name, revision, spec, None)
    label = _label(revision, spec)
    admin = await asyncpg.connect(admin_dsn)
    try:
        found = await admin.fetchval(
            "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = $1", name
        )
        if found == label:
            log(f"dataset: reusing {name} ({spec.cases:,} cases, schema {revision})")
            return dataset
        older = _older_revision(found, spec)
        if older is not None:
            log(f"dataset: upgrading {name} from schema {older} to {revision}")
            await _upgrade_to_head(dataset)
            await admin.execute(f"COMMENT ON DATABASE \"{name}\" IS '{label}'")
            return dataset
        log(f"dataset: building {name} ({spec.cases:,} cases, {spec.users:,} users, schema {revision})")
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()

    started = time.perf_counter()
    await _upgrade_to_head(dataset)
    conn = await asyncpg.connect(dataset.dsn)
    try:
        await _load(conn, spec, log)
    finally:
        await conn.close()
    elapsed = time.perf_counter() - started
    admin = await asyncpg.connect(admin_dsn)
    try:
        await admin.execute(f"COMMENT ON DATABASE \"{name}\" IS '{label}'")
    finally:
        await admin.close()
    log(f"dataset: built in {elapsed:.0f} s")
    return dataclasses.replace(dataset, built_seconds=elapsed)


async def _upgrade_to_head(dataset: Dataset) -> None:
    settings = load_settings(database_url=dataset.sqlalchemy_url)
    await asyncio.to_thread(command.upgrade, alembic_config(settings), "head")


@dataclass(frozen=True)
class Warmed:
    """How the data set was read into memory, and whether PostgreSQL's own cache holds it."""

    seconds: float
    shared_buffers: int  # bytes
    size: int  # bytes, the whole database

    @property
    def fits(self) -> bool:
        return self.size <= self.shared_buffers

    def describe(self) -> str:
        where = "into shared buffers" if self.fits else "into the OS page cache only"
        return f"shared_buffers {_size(self.shared_buffers)}, data set {_size(self.size)}: read {where} in {self.seconds:.0f} s"

    def advice(self) -> str | None:
        """What to do when the data set does not fit, for the operator to read before the run."""
        if self.fits:
            return None
        wanted_gib = max(1, math.ceil(self.size * 1.5 / 2**30))  # room for the data set to grow
        return (
            f"PostgreSQL's shared_buffers ({_size(self.shared_buffers)}) is smaller than the data set "
            f"({_size(self.size)}): every read of a row goes through the OS page cache, which made a search of "
            f"the heaviest user's 46,925 cases 2.6x slower (bench/PROFILE.md §17.2). Before a full run: "
            f"psql -h 127.0.0.1 -U postgres -c \"ALTER SYSTEM SET shared_buffers = '{wanted_gib}GB'\", then restart "
            f"PostgreSQL (pg_ctlcluster --skip-systemctl-redirect <version> main restart)."
        )


def _size(value: int) -> str:
    return f"{value / 2**30:.1f} GiB" if value >= 2**30 else f"{value / 2**20:.0f} MiB"


async def prewarm(dataset: Dataset) -> Warmed:
    """Read every table and index of the data set once, so the measurements see the database as a
    server that has been running does (in memory: it is ~3 GB on a 24 GiB machine), not a disk
    warming up: on a just-built data set, the first pass gave 37 GETs/s and 1 list page/s.

    Into PostgreSQL's shared buffers when they can hold the data set; otherwise into the OS page
    cache only (pg_prewarm's 'read'), since filling buffers too small for it would only evict what
    it had read before."""
    started = time.perf_counter()
    conn = await asyncpg.connect(dataset.dsn)
    try:
        shared_buffers = int(await conn.fetchval(
            "SELECT setting::bigint * pg_size_bytes(unit) FROM pg_settings WHERE name = 'shared_buffers'"
        ))
        size = int(await conn.fetchval("SELECT pg_database_size(current_database())"))
        mode = "buffer" if size <= shared_buffers else "read"
        await conn.execute("CREATE EXTENSION IF NOT EXISTS pg_prewarm")
        await conn.execute(
            """SELECT pg_prewarm(c.oid, $1) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
               WHERE n.nspname IN ('public', 'pg_toast') AND c.relkind IN ('r', 'i', 't', 'm')""",
            mode,
        )
    finally:
        await conn.close()
    return Warmed(time.perf_counter() - started, shared_buffers, size)


async def _load(conn: asyncpg.Connection, spec: DatasetSpec, log) -> None:  # noqa: ANN001
    await conn.execute("SET synchronous_commit = off; SET maintenance_work_mem = '512MB'; SET work_mem = '64MB'")
    tables = ("cases", "case_tags", "case_status_transitions", "case_messages")
    foreign_keys = await conn.fetch(
        """SELECT conname, conrelid::regclass::text AS tbl, pg_get_constraintdef(oid) AS definition
           FROM pg_constraint WHERE contype = 'f' AND connamespace = 'public'::regnamespace"""
    )
    indexes = await conn.fetch(
        """SELECT indexname, indexdef FROM pg_indexes
           WHERE schemaname = 'public' AND tablename = ANY($1::text[])
             AND indexname NOT IN (SELECT conname FROM pg_constraint)""",
        list(tables),
    )
    for fk in foreign_keys:
        await conn.execute(f'ALTER TABLE {fk["tbl"]} DROP CONSTRAINT "{fk["conname"]}"')
    for index in indexes:
        await conn.execute(f'DROP INDEX "{index["indexname"]}"')

    # Triggers that write into other tables (a tag insert refreshing its case's search text) are
    # off while the other tables load; the cases go in last with their own triggers on, so every
    # column a migration derives (the search vector) is computed once, from the final tags.
    for table in tables[1:]:
        await conn.execute(f"ALTER TABLE {table} DISABLE TRIGGER USER")
    await conn.execute(f"CREATE TEMPORARY TABLE bench_cases AS SELECT {_CASE_COLUMNS} FROM cases WITH NO DATA")
    steps = [
        ("cases (staged)", _STAGE_CASES_SQL, (spec.cases, spec.users, spec.skew, PROBLEMS, SERVICES)),
        ("tags", _TAGS_SQL, (TAGS,)),
        ("status moves", _TRANSITIONS_SQL, ()),
        ("messages", _MESSAGES_SQL, (MESSAGES,)),
        ("cases", _CASES_SQL, ()),
    ]
    for what, sql, args in steps:
        started = time.perf_counter()
        status = await conn.execute(sql, *args)
        log(f"dataset:   {what}: {status.split()[-1]} rows in {time.perf_counter() - started:.0f} s")
    await conn.execute("SELECT setval(pg_get_serial_sequence('cases', 'seq'), (SELECT max(seq) FROM cases))")
    for table in tables[1:]:
        await conn.execute(f"ALTER TABLE {table} ENABLE TRIGGER USER")
    started = time.perf_counter()
    for index in indexes:
        await conn.execute(index["indexdef"])
    for fk in foreign_keys:
        await conn.execute(f'ALTER TABLE {fk["tbl"]} ADD CONSTRAINT "{fk["conname"]}" {fk["definition"]}')
    log(f"dataset:   {len(indexes)} indexes and {len(foreign_keys)} foreign keys in {time.perf_counter() - started:.0f} s")
    started = time.perf_counter()
    await conn.execute("VACUUM (ANALYZE)")
    log(f"dataset:   vacuum analyze in {time.perf_counter() - started:.0f} s")


# g: the row number. Unit-interval "randoms" come from hashes of g, so a rebuild is identical.
# case_id: g times an odd constant modulo 2^48 is a bijection, so ids are distinct and look random.
_CASE_COLUMNS = (
    "seq, case_id, user_id, session_id, title, description, status, severity, category, "
    "metadata, created_at, updated_at, resolved_at, version, message_count, last_activity_at"
)
_STAGE_CASES_SQL = f"""
INSERT INTO bench_cases ({_CASE_COLUMNS})
SELECT g, 'case_' || lpad(to_hex((g * 2862933555777) % 281474976710656), 12, '0'),
       'user_' || lpad(least(floor($2::int * power(r, $3::float8)), $2::int - 1)::int::text, 5, '0'),
       CASE WHEN g % 4 = 0 THEN NULL ELSE 'session_' || (g / 3)::text END,
       ($4::text[])[1 + g % cardinality($4::text[])] || ' in ' || ($5::text[])[1 + g % 7 % cardinality($5::text[])],
       'Seen by ' || (1 + g % 90)::text || ' users of ' || ($5::text[])[1 + g % cardinality($5::text[])]
         || ' since the deploy of build ' || (g % 10007)::text || '; errors mention a timeout talking to '
         || ($5::text[])[1 + (g / 7) % cardinality($5::text[])] || '.',
       status, (ARRAY['low', 'medium', 'medium', 'high', 'critical'])[1 + g % 5],
       (ARRAY['performance', 'error', 'configuration', 'infrastructure', 'security', 'other'])[1 + g % 6],
       jsonb_build_object('service', ($5::text[])[1 + g % cardinality($5::text[])], 'region',
                          (ARRAY['eu-west', 'us-east', 'ap-south'])[1 + g % 3]),
       created, created + interval '2 hours',
       CASE WHEN status IN ('resolved', 'archived') THEN created + interval '2 hours' END,
       1 + moves + messages, messages, created + interval '3 hours'
FROM (
    SELECT g, r, messages, created, status,
           CASE status WHEN 'active' THEN 0 WHEN 'investigating' THEN 1 WHEN 'closed' THEN 1
                       WHEN 'resolved' THEN 2 ELSE 3 END AS moves
    FROM (
        SELECT g,
               (hashint8(g)::bigint + 2147483648)::float8 / 4294967296 AS r,
               1 + (g % 5)::int AS messages,
               timestamptz '2026-01-01 00:00:00+00' + g * interval '28 seconds' AS created,
               (ARRAY['active', 'active', 'active', 'active', 'active', 'active', 'active', 'active',
                      'investigating', 'investigating', 'investigating', 'investigating',
                      'resolved', 'resolved', 'resolved', 'resolved',
                      'closed', 'closed', 'closed', 'archived'])[1 + (hashint8(g + 17) & 2147483647) % 20] AS status
        FROM generate_series(1::bigint, $1::bigint) AS g
    ) numbered
) shaped
ORDER BY g
"""

_CASES_SQL = f"INSERT INTO cases ({_CASE_COLUMNS}) SELECT {_CASE_COLUMNS} FROM bench_cases ORDER BY seq"

_TAGS_SQL = """
INSERT INTO case_tags (case_id, tag, user_id)
SELECT c.case_id, ($1::text[])[1 + (c.seq * 7 + k * 13) % cardinality($1::text[])], c.user_id
FROM bench_cases c CROSS JOIN LATERAL generate_series(0, (c.seq % 3)::int) AS k
"""

_TRANSITIONS_SQL = """
INSERT INTO case_status_transitions (case_id, from_status, to_status, reason, actor_id, changed_at)
SELECT c.case_id, m.from_status, m.to_status, m.reason, c.user_id, c.created_at + m.step * interval '30 minutes'
FROM bench_cases c
JOIN (VALUES ('investigating', 1, 'active', 'investigating', 'Reproduced'),
             ('resolved', 1, 'active', 'investigating', 'Reproduced'),
             ('resolved', 2, 'investigating', 'resolved', 'Fixed by raising the pool size'),
             ('closed', 1, 'active', 'closed', 'Duplicate'),
             ('archived', 1, 'active', 'investigating', 'Reproduced'),
             ('archived', 2, 'investigating', 'resolved', 'Fixed'),
             ('archived', 3, 'resolved', 'archived', NULL))
     AS m(status, step, from_status, to_status, reason) ON m.status = c.status
ORDER BY c.seq, m.step
"""

_MESSAGES_SQL = """
INSERT INTO case_messages (message_id, case_id, sequence, role, content, metadata, created_at)
SELECT 'msg_' || lpad(to_hex(c.seq * 8 + s), 16, '0'), c.case_id, s,
       CASE WHEN s % 2 = 1 THEN 'user' ELSE 'assistant' END,
       ($1::text[])[1 + (c.seq + s) % cardinality($1::text[])], '{}'::jsonb,
       c.created_at + s * interval '1 minute'
FROM bench_cases c CROSS JOIN LATERAL generate_series(1, c.message_count) AS s
"""
