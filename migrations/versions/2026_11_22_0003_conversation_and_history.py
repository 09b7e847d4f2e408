"""Conversation and audit trail: case_messages, case_history, and the case's message counters.

Revision ID: 0003
Revises: 0001
Create Date: 2026-11-22
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0003"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
Json = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
Timestamp = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("cases") as batch:
        batch.add_column(sa.Column("message_count", sa.Integer(), nullable=False, server_default=sa.text("0")))
        batch.add_column(sa.Column("last_activity_at", Timestamp, nullable=True))
    # Existing cases: their last activity is their last change.
    op.execute("UPDATE cases SET last_activity_at = updated_at")
    with op.batch_alter_table("cases") as batch:
        batch.alter_column("last_activity_at", existing_type=Timestamp, nullable=False)

    op.create_table(
        "case_messages",
        sa.Column("message_id", sa.String(32), nullable=False),
        sa.Column("case_id", sa.String(32), nullable=False),
        sa.Column("sequence", sa.Integer(), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("metadata", Json, nullable=False),
        sa.Column("created_at", Timestamp, nullable=False),
        sa.PrimaryKeyConstraint("message_id", name="pk_case_messages"),
        sa.ForeignKeyConstraint(
            ["case_id"], ["cases.case_id"], name="fk_case_messages_case_id_cases", ondelete="CASCADE"
        ),
        sa.UniqueConstraint("case_id", "sequence", name="uq_case_messages_case_id_sequence"),
    )

    op.create_table(
        "case_history",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("case_id", sa.String(32), nullable=False),
        sa.Column("user_id", sa.String(128), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("event_type", sa.String(100), nullable=False),
        sa.Column("details", Json, nullable=False),
        sa.Column("actor_id", sa.String(128), nullable=False),
        sa.Column("actor_email", sa.String(320), nullable=True),
        sa.Column("correlation_id", sa.String(128), nullable=True),
        sa.Column("occurred_at", Timestamp, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_case_history"),
    )
    op.create_index("ix_case_history_case", "case_history", ["case_id", "id"])
    op.create_index("ix_case_history_user", "case_history", ["user_id"])


def downgrade() -> None:
    op.drop_table("case_history")
    op.drop_table("case_messages")
    with op.batch_alter_table("cases") as batch:
        batch.drop_column("last_activity_at")
        batch.drop_column("message_count")
