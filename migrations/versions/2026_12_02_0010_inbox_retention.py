"""Index the inbox's completed rows by completion time, for the retention purge.

`event_inbox` keeps one row per event applied, so that a redelivery is recognised as a duplicate.
Rows completed longer ago than INBOX_RETENTION_SECONDS are purged in batches (by the outbox relay's
leader and by `case-service purge-inbox`). The index lets each batch find the oldest completed rows
without reading the whole table; it is partial, since pending rows are never purged.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    completed = sa.text("completed_at IS NOT NULL")
    op.create_index(
        "ix_event_inbox_completed_at",
        "event_inbox",
        ["completed_at"],
        postgresql_where=completed,
        sqlite_where=completed,
    )


def downgrade() -> None:
    op.drop_index("ix_event_inbox_completed_at", table_name="event_inbox")
