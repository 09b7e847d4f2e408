"""Write new entries straight into the search indexes: GIN `fastupdate` off.

With `fastupdate` on, PostgreSQL's default, a GIN index keeps new entries in an unsorted pending
list. The list is merged into the index by a vacuum, or by the insert that takes it past
`gin_pending_list_limit` (4 MB), which then waits for the whole merge. Until then every search
reads the whole list, every user's entries in it, and PostgreSQL, costing that read, stops
choosing the index as the list grows. On the benchmark's data, after the writes of its warm-up
(355 pending pages, 27,532 entries), search ran at 241 requests/s with a p99 of 339 ms; with the
list merged, at 500-573/s (bench/PROFILE.md §18.5). Without the list each insert adds its own
entries: creates ran at 0.52x the ceiling's rate before and 0.53x after, within the noise.

Both GIN indexes: the cases' (user, vector) and the messages' vector. Entries already pending are
merged now (`gin_clean_pending_list`), not at the next vacuum. `ALTER INDEX ... SET` holds an
ACCESS EXCLUSIVE lock on the index until the migration commits, so reads and writes of the table
wait for the merge of what was pending: at most 4 MB per index.

SQLite: nothing (its search is FTS5's, migration 0006).

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SEARCH_INDEXES = ("ix_cases_user_search", "ix_case_messages_search_vector")


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for index in SEARCH_INDEXES:
        op.execute(f"ALTER INDEX {index} SET (fastupdate = off)")
        op.execute(f"SELECT gin_clean_pending_list('{index}'::regclass)")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for index in SEARCH_INDEXES:
        op.execute(f"ALTER INDEX {index} RESET (fastupdate)")
