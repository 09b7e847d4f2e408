"""Search and list indexes: full-text search kept by the database, keyset indexes for every sort.

PostgreSQL: `cases.search_vector` (title weight A, tags B, description C), maintained by triggers
on `cases` and `case_tags`; `case_messages.search_vector`, a generated column. Both GIN-indexed.
Text is lower-cased and every run of non letters-or-digits becomes a space before the `simple`
configuration splits it, which is how FTS5's unicode61 tokenizer splits words: the same query
finds the same cases on both databases.

SQLite: FTS5 tables `cases_fts` (rowid = cases.seq) and `case_messages_fts`, kept in sync by
triggers. They hold their own copy of the text rather than pointing at the content tables: tags
live in another table, and an external-content table would need the exact old text to delete it.
A later migration that rebuilds `cases`, `case_tags` or `case_messages` on SQLite (batch mode
"recreate") drops these triggers and must create them again.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SEVERITY_RANK = "CASE severity WHEN 'low' THEN 0 WHEN 'medium' THEN 1 WHEN 'high' THEN 2 WHEN 'critical' THEN 3 END"
STATUS_RANK = (
    "CASE status WHEN 'active' THEN 0 WHEN 'investigating' THEN 1 WHEN 'resolved' THEN 2 "
    "WHEN 'closed' THEN 3 WHEN 'archived' THEN 4 END"
)

# Keyset indexes, one per sort (the created_at one exists since 0001), with `seq` last so the
# tie-break is read from the index too.
_SORT_INDEXES = {
    "ix_cases_user_updated": "user_id, updated_at, seq",
    "ix_cases_user_severity": f"user_id, ({SEVERITY_RANK}), seq",
    "ix_cases_user_status_rank": f"user_id, ({STATUS_RANK}), seq",
}

_POSTGRES_UP = """
CREATE FUNCTION case_search_text(value text) RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    RETURN regexp_replace(lower(coalesce(value, '')), '[^[:alnum:]]+', ' ', 'g');

CREATE FUNCTION case_search_vector(title text, tags text, description text) RETURNS tsvector
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    RETURN setweight(to_tsvector('simple'::regconfig, case_search_text(title)), 'A')
        || setweight(to_tsvector('simple'::regconfig, case_search_text(tags)), 'B')
        || setweight(to_tsvector('simple'::regconfig, case_search_text(description)), 'C');

CREATE FUNCTION case_tags_text(key varchar) RETURNS text
    LANGUAGE sql STABLE
    RETURN (SELECT string_agg(tag, ' ' ORDER BY tag) FROM case_tags WHERE case_id = key);

ALTER TABLE cases ADD COLUMN search_vector tsvector;

UPDATE cases SET search_vector = case_search_vector(title, case_tags_text(case_id), description);

ALTER TABLE cases ALTER COLUMN search_vector SET NOT NULL;

CREATE FUNCTION cases_search_refresh() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.search_vector := case_search_vector(NEW.title, case_tags_text(NEW.case_id), NEW.description);
    RETURN NEW;
END $$;

CREATE TRIGGER cases_search_insert BEFORE INSERT ON cases
    FOR EACH ROW EXECUTE FUNCTION cases_search_refresh();

CREATE TRIGGER cases_search_update BEFORE UPDATE OF title, description ON cases
    FOR EACH ROW WHEN (OLD.title IS DISTINCT FROM NEW.title OR OLD.description IS DISTINCT FROM NEW.description)
    EXECUTE FUNCTION cases_search_refresh();

CREATE FUNCTION case_tags_search_refresh() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    key varchar := CASE WHEN TG_OP = 'DELETE' THEN OLD.case_id ELSE NEW.case_id END;
BEGIN
    UPDATE cases SET search_vector = case_search_vector(title, case_tags_text(key), description)
        WHERE case_id = key;
    RETURN NULL;
END $$;

CREATE TRIGGER case_tags_search_refresh AFTER INSERT OR DELETE ON case_tags
    FOR EACH ROW EXECUTE FUNCTION case_tags_search_refresh();

CREATE INDEX ix_cases_search_vector ON cases USING gin (search_vector);

ALTER TABLE case_messages ADD COLUMN search_vector tsvector
    GENERATED ALWAYS AS (to_tsvector('simple'::regconfig, case_search_text(content))) STORED;

CREATE INDEX ix_case_messages_search_vector ON case_messages USING gin (search_vector);

CREATE INDEX ix_cases_user_title ON cases (user_id, (title COLLATE "C"), seq);
"""

_POSTGRES_DOWN = """
DROP INDEX IF EXISTS ix_cases_user_title;

DROP INDEX IF EXISTS ix_case_messages_search_vector;

ALTER TABLE case_messages DROP COLUMN IF EXISTS search_vector;

DROP INDEX IF EXISTS ix_cases_search_vector;

DROP TRIGGER IF EXISTS case_tags_search_refresh ON case_tags;

DROP FUNCTION IF EXISTS case_tags_search_refresh();

DROP TRIGGER IF EXISTS cases_search_update ON cases;

DROP TRIGGER IF EXISTS cases_search_insert ON cases;

DROP FUNCTION IF EXISTS cases_search_refresh();

ALTER TABLE cases DROP COLUMN IF EXISTS search_vector;

DROP FUNCTION IF EXISTS case_tags_text(varchar);

DROP FUNCTION IF EXISTS case_search_vector(text, text, text);

DROP FUNCTION IF EXISTS case_search_text(text);

"""

_TAGS_OF = "(SELECT group_concat(tag, ' ') FROM case_tags WHERE case_id = {key})"
_TOKENIZER = "tokenize = 'unicode61 remove_diacritics 0'"

_SQLITE_UP = [
    f"CREATE VIRTUAL TABLE cases_fts USING fts5(title, tags, description, {_TOKENIZER})",
    f"""CREATE TRIGGER cases_fts_insert AFTER INSERT ON cases BEGIN
        INSERT INTO cases_fts (rowid, title, tags, description)
        VALUES (new.seq, new.title, {_TAGS_OF.format(key="new.case_id")}, new.description);
    END""",
    """CREATE TRIGGER cases_fts_update AFTER UPDATE OF title, description ON cases
    WHEN old.title IS NOT new.title OR old.description IS NOT new.description BEGIN
        UPDATE cases_fts SET title = new.title, description = new.description WHERE rowid = new.seq;
    END""",
    "CREATE TRIGGER cases_fts_delete AFTER DELETE ON cases BEGIN DELETE FROM cases_fts WHERE rowid = old.seq; END",
    f"""CREATE TRIGGER case_tags_fts_insert AFTER INSERT ON case_tags BEGIN
        UPDATE cases_fts SET tags = {_TAGS_OF.format(key="new.case_id")}
        WHERE rowid = (SELECT seq FROM cases WHERE case_id = new.case_id);
    END""",
    f"""CREATE TRIGGER case_tags_fts_delete AFTER DELETE ON case_tags BEGIN
        UPDATE cases_fts SET tags = {_TAGS_OF.format(key="old.case_id")}
        WHERE rowid = (SELECT seq FROM cases WHERE case_id = old.case_id);
    END""",
    f"""INSERT INTO cases_fts (rowid, title, tags, description)
        SELECT seq, title, {_TAGS_OF.format(key="cases.case_id")}, description FROM cases""",
    f"CREATE VIRTUAL TABLE case_messages_fts USING fts5(content, case_id UNINDEXED, {_TOKENIZER})",
    """CREATE TRIGGER case_messages_fts_insert AFTER INSERT ON case_messages BEGIN
        INSERT INTO case_messages_fts (content, case_id) VALUES (new.content, new.case_id);
    END""",
    # Messages never change and go only with their case (ON DELETE CASCADE), so their index rows
    # go with the case too. Keyed by case_id, not by the message's rowid: case_messages has no
    # INTEGER PRIMARY KEY, and VACUUM may renumber such rowids.
    """CREATE TRIGGER case_messages_fts_delete AFTER DELETE ON cases BEGIN
        DELETE FROM case_messages_fts WHERE case_id = old.case_id;
    END""",
    "INSERT INTO case_messages_fts (content, case_id) SELECT content, case_id FROM case_messages",
    "CREATE INDEX ix_cases_user_title ON cases (user_id, title, seq)",
]

_SQLITE_DOWN = [
    "DROP INDEX IF EXISTS ix_cases_user_title",
    "DROP TRIGGER IF EXISTS case_messages_fts_delete",
    "DROP TRIGGER IF EXISTS case_messages_fts_insert",
    "DROP TABLE IF EXISTS case_messages_fts",
    "DROP TRIGGER IF EXISTS case_tags_fts_delete",
    "DROP TRIGGER IF EXISTS case_tags_fts_insert",
    "DROP TRIGGER IF EXISTS cases_fts_delete",
    "DROP TRIGGER IF EXISTS cases_fts_update",
    "DROP TRIGGER IF EXISTS cases_fts_insert",
    "DROP TABLE IF EXISTS cases_fts",
]


def upgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    _run(_statements(_POSTGRES_UP) if postgres else _SQLITE_UP)
    _run([f"CREATE INDEX {name} ON cases ({columns})" for name, columns in _SORT_INDEXES.items()])


def downgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    _run([f"DROP INDEX IF EXISTS {name}" for name in _SORT_INDEXES])
    _run(_statements(_POSTGRES_DOWN) if postgres else _SQLITE_DOWN)


def _statements(script: str) -> list[str]:
    """The script's statements, one per paragraph."""
    return [part.strip() for part in script.split("\n\n") if part.strip()]


def _run(statements: list[str]) -> None:
    # Sent as they are: `[:alnum:]` is a regex class, not a bound parameter.
    bind = op.get_bind()
    for statement in statements:
        bind.exec_driver_sql(statement)
