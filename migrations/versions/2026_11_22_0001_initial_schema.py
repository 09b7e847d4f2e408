"""Initial schema: cases, their tags and status transitions, title counters, the event outbox.

Revision ID: 0001
Revises:
Create Date: 2026-11-22
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
Json = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
Timestamp = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "cases",
        sa.Column("seq", BigId, primary_key=True, autoincrement=True),
        sa.Column("case_id", sa.String(32), nullable=False),
        sa.Column("user_id", sa.String(128), nullable=False),
        sa.Column("session_id", sa.String(128), nullable=True),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("description", sa.Text(), nullable=False, server_default=""),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("severity", sa.String(10), nullable=False),
        sa.Column("category", sa.String(20), nullable=False),
        sa.Column("metadata", Json, nullable=False),
        sa.Column("created_at", Timestamp, nullable=False),
        sa.Column("updated_at", Timestamp, nullable=False),
        sa.Column("resolved_at", Timestamp, nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("seq", name="pk_cases"),
        sa.UniqueConstraint("case_id", name="uq_cases_case_id"),
    )
    op.create_index(
        "ix_cases_user_created", "cases", ["user_id", sa.text("created_at DESC"), sa.text("seq DESC")]
    )
    op.create_index(
        "ix_cases_user_status_created",
        "cases",
        ["user_id", "status", sa.text("created_at DESC"), sa.text("seq DESC")],
    )
    op.create_index("ix_cases_user_session", "cases", ["user_id", "session_id"])

    op.create_table(
        "case_tags",
        sa.Column("case_id", sa.String(32), nullable=False),
        sa.Column("tag", sa.String(50), nullable=False),
        sa.Column("user_id", sa.String(128), nullable=False),
        sa.PrimaryKeyConstraint("case_id", "tag", name="pk_case_tags"),
        sa.ForeignKeyConstraint(
            ["case_id"], ["cases.case_id"], name="fk_case_tags_case_id_cases", ondelete="CASCADE"
        ),
    )
    op.create_index("ix_case_tags_user_tag", "case_tags", ["user_id", "tag"])

    op.create_table(
        "case_status_transitions",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("case_id", sa.String(32), nullable=False),
        sa.Column("from_status", sa.String(20), nullable=False),
        sa.Column("to_status", sa.String(20), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("actor_id", sa.String(128), nullable=False),
        sa.Column("actor_email", sa.String(320), nullable=True),
        sa.Column("correlation_id", sa.String(128), nullable=True),
        sa.Column("changed_at", Timestamp, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_case_status_transitions"),
        sa.ForeignKeyConstraint(
            ["case_id"],
            ["cases.case_id"],
            name="fk_case_status_transitions_case_id_cases",
            ondelete="CASCADE",
        ),
    )
    op.create_index("ix_case_status_transitions_case", "case_status_transitions", ["case_id", "id"])

    op.create_table(
        "case_title_counters",
        sa.Column("user_id", sa.String(128), nullable=False),
        sa.Column("day", sa.String(10), nullable=False),
        sa.Column("last_number", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("user_id", "day", name="pk_case_title_counters"),
    )

    op.create_table(
        "event_outbox",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("event_id", sa.String(36), nullable=False),
        sa.Column("event_type", sa.String(100), nullable=False),
        sa.Column("aggregate_type", sa.String(50), nullable=False),
        sa.Column("aggregate_id", sa.String(64), nullable=False),
        sa.Column("aggregate_version", sa.Integer(), nullable=False),
        sa.Column("envelope", Json, nullable=False),
        sa.Column("headers", Json, nullable=False),
        sa.Column("created_at", Timestamp, nullable=False),
        sa.Column("published_at", Timestamp, nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False, server_default=sa.text("0")),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("next_attempt_at", Timestamp, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_event_outbox"),
        sa.UniqueConstraint("event_id", name="uq_event_outbox_event_id"),
        sa.UniqueConstraint(
            "aggregate_type",
            "aggregate_id",
            "aggregate_version",
            name="uq_event_outbox_aggregate_type_aggregate_id_aggregate_version",
        ),
    )
    op.create_index(
        "ix_event_outbox_pending",
        "event_outbox",
        ["aggregate_id", "aggregate_version"],
        postgresql_where=sa.text("published_at IS NULL"),
        sqlite_where=sa.text("published_at IS NULL"),
    )
    op.create_index("ix_event_outbox_published_at", "event_outbox", ["published_at"])


def downgrade() -> None:
    op.drop_table("event_outbox")
    op.drop_table("case_title_counters")
    op.drop_table("case_status_transitions")
    op.drop_table("case_tags")
    op.drop_table("cases")
