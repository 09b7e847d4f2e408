"""Consuming platform events exactly once: event_inbox, event_dead_letter, and case_evidence.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
Timestamp = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "case_evidence",
        sa.Column("evidence_id", sa.String(64), nullable=False),
        sa.Column("case_id", sa.String(32), nullable=False),
        sa.Column("file_name", sa.String(255), nullable=False),
        sa.Column("content_type", sa.String(255), nullable=True),
        sa.Column("size_bytes", sa.BigInteger(), nullable=True),
        sa.Column("uploaded_at", Timestamp, nullable=False),
        sa.Column("uploaded_by", sa.String(128), nullable=True),
        sa.Column("recorded_at", Timestamp, nullable=False),
        sa.Column("event_id", sa.String(36), nullable=False),
        sa.PrimaryKeyConstraint("evidence_id", name="pk_case_evidence"),
        sa.ForeignKeyConstraint(
            ["case_id"], ["cases.case_id"], name="fk_case_evidence_case_id_cases", ondelete="CASCADE"
        ),
    )
    op.create_index("ix_case_evidence_case", "case_evidence", ["case_id", "uploaded_at", "evidence_id"])

    op.create_table(
        "event_inbox",
        sa.Column("consumer", sa.String(64), nullable=False),
        sa.Column("event_id", sa.String(36), nullable=False),
        sa.Column("event_type", sa.String(100), nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("outcome", sa.String(20), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("affected", sa.Integer(), nullable=False, server_default=sa.text("0")),
        sa.Column("correlation_id", sa.String(128), nullable=True),
        sa.Column("received_at", Timestamp, nullable=False),
        sa.Column("completed_at", Timestamp, nullable=True),
        sa.PrimaryKeyConstraint("consumer", "event_id", name="pk_event_inbox"),
    )

    op.create_table(
        "event_dead_letter",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("consumer", sa.String(64), nullable=False),
        sa.Column("event_id", sa.String(36), nullable=True),
        sa.Column("event_type", sa.String(100), nullable=True),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("body", sa.LargeBinary(), nullable=False),
        sa.Column("error", sa.Text(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("first_failed_at", Timestamp, nullable=False),
        sa.Column("last_failed_at", Timestamp, nullable=False),
        sa.Column("replayed_at", Timestamp, nullable=True),
        sa.Column("replay_outcome", sa.String(20), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_event_dead_letter"),
    )
    op.create_index("ix_event_dead_letter_event", "event_dead_letter", ["event_id"])


def downgrade() -> None:
    op.drop_table("event_dead_letter")
    op.drop_table("event_inbox")
    op.drop_table("case_evidence")
