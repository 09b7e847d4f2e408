"""Index the search vector by user: one GIN index on (user_id, search_vector) instead of the vector alone.

Every search is one user's. With the vector indexed alone, PostgreSQL had two ways to find a user's
matches: read the user's cases and test each, or intersect the user's index with the GIN index,
which reads the word's entries for every user. It took the second whenever it misjudged how many
cases the words match (words that come together, like "replication lag", are counted as if they
were independent): 16 ms for a user of 265 cases on the benchmark's data, against 1.6 ms with this
index, which holds the user among the keys and so reads only that user's entries. With it the
search no longer needs a plan made for its own values (bench/PROFILE.md §17.3).

`btree_gin` lets a GIN index take a plain column; it ships with PostgreSQL and, since PostgreSQL 13,
is a trusted extension: the database's owner may create it. The downgrade leaves the extension,
which holds no data and may have been there before.

SQLite: nothing (its search is FTS5's, migration 0006).

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("CREATE EXTENSION IF NOT EXISTS btree_gin")
    op.execute("CREATE INDEX ix_cases_user_search ON cases USING gin (user_id, search_vector)")
    op.execute("DROP INDEX ix_cases_search_vector")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("CREATE INDEX ix_cases_search_vector ON cases USING gin (search_vector)")
    op.execute("DROP INDEX ix_cases_user_search")
