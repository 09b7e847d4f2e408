"""Keep the outbox queue table cheap to read while it churns.

Every event row is inserted pending and updated once when published, so `event_outbox` makes one
dead row version per event. Until a vacuum removes them, each relay query walks them: measured on
the benchmark's database, 550,000 dead versions made each relay query take ~200 ms instead of
0.3-2 ms. This migration

- gives the table (PostgreSQL only) its own autovacuum and analyze thresholds: a fixed number of
  changed rows instead of a share of a table that may hold millions of published rows, and no cost
  delay, so a vacuum of the queue finishes quickly;
- adds an index of the pending rows by id, which the relay walks in order to find each case's
  next event (its head) and stops as soon as it has a batch, instead of grouping every pending row
  by case in every cycle (with a 100,000-event backlog: 150-240 ms to choose 1,000 events that
  way, 35-55 ms this way);
- makes the published-at index partial (published rows only). The purge is its only user; as a full
  index its `published_at IS NULL` entries let the planner answer the relay's pending queries with a
  bitmap scan, which never learns that an entry is dead, instead of the pending index.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Changed rows that make autovacuum visit the table (on top of no share of its size).
_UPKEEP = {
    "autovacuum_vacuum_scale_factor": "0",
    "autovacuum_vacuum_threshold": "2000",
    "autovacuum_vacuum_insert_scale_factor": "0",
    "autovacuum_vacuum_insert_threshold": "5000",
    "autovacuum_analyze_scale_factor": "0",
    "autovacuum_analyze_threshold": "2000",
    "autovacuum_vacuum_cost_delay": "0",
}


def upgrade() -> None:
    op.drop_index("ix_event_outbox_published_at", table_name="event_outbox")
    published = sa.text("published_at IS NOT NULL")
    pending = sa.text("published_at IS NULL")
    op.create_index(
        "ix_event_outbox_published_at",
        "event_outbox",
        ["published_at"],
        postgresql_where=published,
        sqlite_where=published,
    )
    op.create_index("ix_event_outbox_pending_order", "event_outbox", ["id"], postgresql_where=pending, sqlite_where=pending)
    if op.get_bind().dialect.name == "postgresql":
        options = ", ".join(f"{name} = {value}" for name, value in _UPKEEP.items())
        op.execute(f"ALTER TABLE event_outbox SET ({options})")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"ALTER TABLE event_outbox RESET ({', '.join(_UPKEEP)})")
    op.drop_index("ix_event_outbox_pending_order", table_name="event_outbox")
    op.drop_index("ix_event_outbox_published_at", table_name="event_outbox")
    op.create_index("ix_event_outbox_published_at", "event_outbox", ["published_at"])
