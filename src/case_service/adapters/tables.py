"""The relational schema, as SQLAlchemy Core tables. Alembic migrations create it; this module
describes it so the repository can query it. Keep the two in step (a test compares them)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

# SQLite only gives auto-incrementing keys to INTEGER PRIMARY KEY columns.
BigId = BigInteger().with_variant(Integer(), "sqlite")
Json = JSON().with_variant(JSONB(), "postgresql")


class UTCDateTime(TypeDecorator[datetime]):
    """Timestamps are stored in UTC and always come back timezone-aware (SQLite drops the offset)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are not stored: give a timezone")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def result_processor(self, dialect: Dialect, coltype: object) -> Callable[[Any], Any] | None:
        # asyncpg reads timestamptz as datetimes in UTC already, whatever the session's time zone:
        # nothing to do for each value of each row read.
        if dialect.driver == "asyncpg":
            return None
        return super().result_processor(dialect, coltype)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


cases = Table(
    "cases",
    metadata,
    # `seq` orders cases created in the same instant; `case_id` is the public identifier.
    Column("seq", BigId, primary_key=True, autoincrement=True),
    Column("case_id", String(32), nullable=False, unique=True),
    Column("user_id", String(128), nullable=False),
    Column("session_id", String(128), nullable=True),
    Column("title", String(200), nullable=False),
    Column("description", Text, nullable=False, server_default=""),
    Column("status", String(20), nullable=False),
    Column("severity", String(10), nullable=False),
    Column("category", String(20), nullable=False),
    Column("metadata", Json, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Column("resolved_at", UTCDateTime, nullable=True),
    Column("version", Integer, nullable=False),
    Column("message_count", Integer, nullable=False, server_default=text("0")),
    Column("last_activity_at", UTCDateTime, nullable=False),
)
Index("ix_cases_user_created", cases.c.user_id, cases.c.created_at.desc(), cases.c.seq.desc())
Index(
    "ix_cases_user_status_created",
    cases.c.user_id,
    cases.c.status,
    cases.c.created_at.desc(),
    cases.c.seq.desc(),
)
Index("ix_cases_user_session", cases.c.user_id, cases.c.session_id)

case_tags = Table(
    "case_tags",
    metadata,
    Column("case_id", String(32), ForeignKey("cases.case_id", ondelete="CASCADE"), primary_key=True),
    Column("tag", String(50), primary_key=True),
    # The owner is repeated here so tag filters and per-user tag counts need no join.
    Column("user_id", String(128), nullable=False),
)
Index("ix_case_tags_user_tag", case_tags.c.user_id, case_tags.c.tag)

case_status_transitions = Table(
    "case_status_transitions",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("case_id", String(32), ForeignKey("cases.case_id", ondelete="CASCADE"), nullable=False),
    Column("from_status", String(20), nullable=False),
    Column("to_status", String(20), nullable=False),
    Column("reason", Text, nullable=True),
    Column("actor_id", String(128), nullable=False),
    Column("actor_email", String(320), nullable=True),
    Column("correlation_id", String(128), nullable=True),
    Column("changed_at", UTCDateTime, nullable=False),
)
Index("ix_case_status_transitions_case", case_status_transitions.c.case_id, case_status_transitions.c.id)

# The conversation. `sequence` is 1, 2, 3, ... per case, handed out under the case's row lock.
case_messages = Table(
    "case_messages",
    metadata,
    Column("message_id", String(32), primary_key=True),
    Column("case_id", String(32), ForeignKey("cases.case_id", ondelete="CASCADE"), nullable=False),
    Column("sequence", Integer, nullable=False),
    Column("role", String(16), nullable=False),
    Column("content", Text, nullable=False),
    Column("metadata", Json, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    UniqueConstraint("case_id", "sequence"),
)

# The audit trail: one row per domain event, written by the unit of work in the change's
# transaction. No foreign key on purpose: when a case is deleted its rows are removed, but the
# tombstone row of the deletion stays (who deleted it, when, under which correlation id).
case_history = Table(
    "case_history",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("case_id", String(32), nullable=False),
    # The owner of the case, so a user's trail (tombstones included) is found without the case.
    Column("user_id", String(128), nullable=False),
    Column("version", Integer, nullable=False),
    Column("event_type", String(100), nullable=False),
    Column("details", Json, nullable=False),
    Column("actor_id", String(128), nullable=False),
    Column("actor_email", String(320), nullable=True),
    Column("correlation_id", String(128), nullable=True),
    Column("occurred_at", UTCDateTime, nullable=False),
)
Index("ix_case_history_case", case_history.c.case_id, case_history.c.id)
Index("ix_case_history_user", case_history.c.user_id)

# One row per user and UTC day: the last number handed out for an untitled `Case-MMDD-N`.
# Counting existing cases instead would repeat numbers after deletions and race under load.
case_title_counters = Table(
    "case_title_counters",
    metadata,
    Column("user_id", String(128), primary_key=True),
    Column("day", String(10), primary_key=True),
    Column("last_number", Integer, nullable=False),
)

event_outbox = Table(
    "event_outbox",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("event_id", String(36), nullable=False, unique=True),
    Column("event_type", String(100), nullable=False),
    Column("aggregate_type", String(50), nullable=False),
    Column("aggregate_id", String(64), nullable=False),
    Column("aggregate_version", Integer, nullable=False),
    # The complete message body as it goes on the wire, and the broker headers beside it.
    Column("envelope", Json, nullable=False),
    Column("headers", Json, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("published_at", UTCDateTime, nullable=True),
    Column("attempts", Integer, nullable=False, server_default=text("0")),
    Column("last_error", Text, nullable=True),
    Column("next_attempt_at", UTCDateTime, nullable=True),
    UniqueConstraint("aggregate_type", "aggregate_id", "aggregate_version"),
)
Index(
    "ix_event_outbox_pending",
    event_outbox.c.aggregate_id,
    event_outbox.c.aggregate_version,
    postgresql_where=event_outbox.c.published_at.is_(None),
    sqlite_where=event_outbox.c.published_at.is_(None),
)
# Pending rows in the order they were written: the relay walks it to find the next heads.
Index(
    "ix_event_outbox_pending_order",
    event_outbox.c.id,
    postgresql_where=event_outbox.c.published_at.is_(None),
    sqlite_where=event_outbox.c.published_at.is_(None),
)
# Published rows only: the purge's index (migration 0008 says why it is partial).
Index(
    "ix_event_outbox_published_at",
    event_outbox.c.published_at,
    postgresql_where=event_outbox.c.published_at.is_not(None),
    sqlite_where=event_outbox.c.published_at.is_not(None),
)

# One row per (user, Idempotency-Key): the request's fingerprint and the answer it got. The row is
# claimed at the start of the write's transaction and filled in before its commit, so a committed
# row always holds the answer of the change that committed with it.
idempotency_keys = Table(
    "idempotency_keys",
    metadata,
    Column("user_id", String(128), primary_key=True),
    Column("key", String(255), primary_key=True),
    Column("fingerprint", String(64), nullable=False),
    Column("status_code", Integer, nullable=True),
    Column("response_body", Text, nullable=True),
    Column("response_headers", Json, nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime, nullable=False),
)
Index("ix_idempotency_keys_expires_at", idempotency_keys.c.expires_at)

# Evidence linked to a case by `evidence.uploaded` events: a reference, the file stays with the
# Evidence Service. Deleting the case deletes its references.
case_evidence = Table(
    "case_evidence",
    metadata,
    Column("evidence_id", String(64), primary_key=True),
    Column("case_id", String(32), ForeignKey("cases.case_id", ondelete="CASCADE"), nullable=False),
    Column("file_name", String(255), nullable=False),
    Column("content_type", String(255), nullable=True),
    Column("size_bytes", BigInteger, nullable=True),
    Column("uploaded_at", UTCDateTime, nullable=False),
    Column("uploaded_by", String(128), nullable=True),
    Column("recorded_at", UTCDateTime, nullable=False),
    # The platform event that linked it.
    Column("event_id", String(36), nullable=False),
)
Index("ix_case_evidence_case", case_evidence.c.case_id, case_evidence.c.uploaded_at, case_evidence.c.evidence_id)

# The inbox: one row per platform event a consumer took in, keyed by (consumer, event_id). The
# row and the event's effect commit in one transaction, so a redelivered event finds its row and
# changes nothing. `outcome` is `pending` only while a batched effect (a user's deletion) is under
# way; a delivery that finds `pending` resumes the work instead of skipping it.
event_inbox = Table(
    "event_inbox",
    metadata,
    Column("consumer", String(64), primary_key=True),
    Column("event_id", String(36), primary_key=True),
    Column("event_type", String(100), nullable=False),
    # What first delivered it: nats, rabbitmq, http or replay.
    Column("source", String(16), nullable=False),
    Column("outcome", String(20), nullable=False),
    Column("reason", Text, nullable=True),
    # How many cases the event changed (created evidence, moved, deleted).
    Column("affected", Integer, nullable=False, server_default=text("0")),
    Column("correlation_id", String(128), nullable=True),
    Column("received_at", UTCDateTime, nullable=False),
    Column("completed_at", UTCDateTime, nullable=True),
)

# The retention purge's index: completed rows by when they completed (migration 0010).
Index(
    "ix_event_inbox_completed_at",
    event_inbox.c.completed_at,
    postgresql_where=event_inbox.c.completed_at.is_not(None),
    sqlite_where=event_inbox.c.completed_at.is_not(None),
)

# Events that could not be applied: malformed ones at once, others after the retries ran out.
# `body` is the delivery exactly as received, so a replay parses the same bytes.
event_dead_letter = Table(
    "event_dead_letter",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("consumer", String(64), nullable=False),
    Column("event_id", String(36), nullable=True),
    Column("event_type", String(100), nullable=True),
    Column("source", String(16), nullable=False),
    Column("body", LargeBinary, nullable=False),
    Column("error", Text, nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("first_failed_at", UTCDateTime, nullable=False),
    Column("last_failed_at", UTCDateTime, nullable=False),
    Column("replayed_at", UTCDateTime, nullable=True),
    Column("replay_outcome", String(20), nullable=True),
)
Index("ix_event_dead_letter_event", event_dead_letter.c.event_id)

# Search and sort objects created by migrations 0006 and 0011 with raw DDL, per database: full-text
# columns, FTS5 tables (and the shadow tables SQLite makes for them), expression and GIN indexes.
# SQLAlchemy cannot describe them for both databases, so the comparison of migrations with this
# module skips them.
RAW_DDL_COLUMNS = frozenset({"search_vector"})
RAW_DDL_INDEXES = frozenset(
    {
        "ix_cases_user_search",
        "ix_case_messages_search_vector",
        "ix_cases_user_title",
        "ix_cases_user_updated",
        "ix_cases_user_severity",
        "ix_cases_user_status_rank",
    }
)
RAW_DDL_TABLE_PREFIXES = ("cases_fts", "case_messages_fts")


def described_here(name: str | None, type_: str, parent_names: dict[str, str | None]) -> bool:
    """Alembic's `include_name` hook: False for the raw-DDL search objects above."""
    if name is None:
        return True
    if type_ == "table":
        return not name.startswith(RAW_DDL_TABLE_PREFIXES)
    if type_ == "column":
        return name not in RAW_DDL_COLUMNS
    if type_ == "index":
        return name not in RAW_DDL_INDEXES
    return True
