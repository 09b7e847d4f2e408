"""Wake the relay from the database: a statement trigger on `event_outbox` sends the NOTIFY.

Until now every write transaction sent `SELECT pg_notify('case_outbox', '')` itself after inserting
its outbox rows: one more round trip in each create, update, message and status change (a create
made seven). A statement-level trigger sends the same notification, in the same transaction, once
per INSERT statement, from inside the server. PostgreSQL delivers it at commit and folds identical
notifications of one transaction into one, as before. PostgreSQL only: SQLite has no NOTIFY (its
relay is woken in process and polls).

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The channel the relay LISTENs on (case_service.adapters.outbox.NOTIFY_CHANNEL); a migration keeps
# its own copy so that it means the same whatever the code becomes.
_CHANNEL = "case_outbox"


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(
        f"""
        CREATE FUNCTION event_outbox_notify() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            PERFORM pg_notify('{_CHANNEL}', '');
            RETURN NULL;
        END
        $$
        """
    )
    op.execute(
        "CREATE TRIGGER event_outbox_notify AFTER INSERT ON event_outbox "
        "FOR EACH STATEMENT EXECUTE FUNCTION event_outbox_notify()"
    )


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP TRIGGER event_outbox_notify ON event_outbox")
    op.execute("DROP FUNCTION event_outbox_notify()")
