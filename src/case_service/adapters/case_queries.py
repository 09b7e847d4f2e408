"""The read side of cases: filtered, searched, keyset-paged lists, dashboard counts, batch reads.

Search runs on each database's own full-text index, kept up to date by the database (migration
0006): PostgreSQL's `cases.search_vector` (title weight A, tags B, description C) and
`case_messages.search_vector`; SQLite's FTS5 tables `cases_fts` and `case_messages_fts`. The
parsed query (domain/search.py) is rendered here into each one's syntax, every word quoted, and
passed as a bound parameter.

On PostgreSQL each rendered query becomes a `tsquery` in the statement itself, as an uncorrelated
subquery `(SELECT to_tsquery('simple', :text))`: PostgreSQL runs it once per execution (an InitPlan),
in a custom plan and in the generic plan it reuses for a prepared statement from its sixth
execution on a pooled connection alike. Written as a plain `to_tsquery(...)` call, a generic plan
ran it once per candidate row and relevance test (bench/PROFILE.md §10). A generic plan is made
without the user and the words, so it cannot tell a user of 50 cases from one of 50,000, nor a
common word from a rare one; the GIN index holds the user with the words (migration 0011), so its
one plan reads only the user's entries whichever they are (§11, §17.3).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from datetime import date, datetime
from functools import cache, lru_cache
from typing import Any, NamedTuple

from sqlalchemy import (
    Integer,
    Select,
    String,
    Text,
    extract,
    bindparam,
    case,
    exists,
    column,
    func,
    literal_column,
    or_,
    select,
    table,
    tuple_,
)
from sqlalchemy.dialects.postgresql import TSQUERY, TSVECTOR
from sqlalchemy.engine import Dialect
from sqlalchemy.sql import ColumnElement

from case_service.adapters.database import Database, LazyConnection
from case_service.adapters.repository import TAGS_OF_CASE, case_from_row, tags_of
from case_service.adapters.tables import case_messages, case_tags, cases
from case_service.domain.case import Case
from case_service.domain.queries import (
    RELEVANCE_WEIGHTS,
    SEVERITY_RANK,
    STATUS_RANK,
    CasePage,
    CaseQuery,
    CaseSort,
    CaseStats,
    SortField,
    TagCount,
)
from case_service.domain.search import SearchQuery, SearchTerm

# The weight letters of the PostgreSQL vector, per field (see migration 0006).
_PG_WEIGHT = {"title": "A", "tags": "B", "description": "C"}
_OPEN_STATUSES = ("active", "investigating")
# Names of a search's parameters: what every term must match, in the case or in its messages
# (relevance tests are named by `_score_key`).
_MATCH = "search_match"
_MESSAGE_MATCH = "search_message_match"


def _rank_expression(column: str, ranks: dict[Any, int]) -> ColumnElement[int]:
    """`CASE cases.x WHEN 'a' THEN 0 ... END`, written out literally so PostgreSQL matches it to
    the expression indexes of migration 0006 (bound parameters would not match)."""
    whens = " ".join(f"WHEN '{value.value}' THEN {rank}" for value, rank in ranks.items())
    return literal_column(f"CASE cases.{column} {whens} END", Integer)


SEVERITY_KEY = _rank_expression("severity", SEVERITY_RANK)
STATUS_KEY = _rank_expression("status", STATUS_RANK)


def reader_factory(database: Database) -> Callable[..., AbstractAsyncContextManager[CaseQueries]]:
    """Readers on `database`, each on its own read-only snapshot unless told that one statement
    will do (on PostgreSQL a snapshot costs two more round trips: BEGIN and ROLLBACK)."""

    @asynccontextmanager
    async def open_reader(*, snapshot: bool = True) -> AsyncIterator[CaseQueries]:
        async with LazyConnection(database, write=False, snapshot=snapshot) as conn:
            yield CaseQueries(conn)

    return open_reader


class CaseQueries:
    """Read-only queries on one connection."""

    def __init__(self, conn: LazyConnection) -> None:
        self._conn = conn
        self._dialect = conn.dialect.name
        self._search = _SEARCH[self._dialect]

    async def list(self, query: CaseQuery) -> CasePage:
        params = self._values(query)
        params.update(page_limit=query.limit + 1, page_offset=query.offset)
        if query.after is not None:
            params["after_key"], params["after_seq"] = query.after
        stmt = _list_statement(self._dialect, _Shape.of(query), query.sort, query.after is not None)
        rows = await self._rows(stmt, params)
        page, more = rows[: query.limit], len(rows) > query.limit
        if self._dialect == "postgresql":  # each row brings its tags (`_list_statement`)
            tags = {row["case_id"]: list(row["tags"] or ()) for row in page}
        else:
            tags = await tags_of(self._conn, [row["case_id"] for row in page])
        total = await self._count(query, params) if query.include_total else None
        return CasePage(
            cases=[case_from_row(row, tags[row["case_id"]]) for row in page],
            total=total,
            next_position=(page[-1]["sort_key"], page[-1]["seq"]) if more else None,
        )

    async def _rows(self, stmt: Select[Any], params: dict[str, Any]) -> Sequence[Mapping[str, Any]]:
        """The statement's rows, each read by key.

        A plain read on PostgreSQL (no transaction: a page without its total) runs through asyncpg
        itself, as a GET does: SQLAlchemy's execution layer cost a page of 51 rows 230-390 µs of CPU
        more than asyncpg's own fetch (bench/PROFILE.md §18.2). The parameters' values are str,
        int, lists of str and aware datetimes, which asyncpg encodes as SQLAlchemy would."""
        if self._dialect != "postgresql" or self._conn.in_transaction():
            return (await self._conn.execute(stmt, params)).mappings().all()
        statement = _driver_statement(self._conn.dialect, stmt, _layout(params))
        values = statement.values(params)
        rows: list[Mapping[str, Any]] = await self._conn.read_by_driver(
            lambda driver: driver.fetch(statement.sql, *values)
        )
        return rows

    async def _count(self, query: CaseQuery, params: dict[str, Any]) -> int:
        stmt = select(func.count()).select_from(cases).where(*_conditions(self._dialect, _Shape.of(query)))
        return int((await self._conn.execute(stmt, params)).scalar_one())

    async def get_many(self, user_id: str, case_ids: Sequence[str]) -> dict[str, Case]:
        """The user's cases among `case_ids`, by id; ids of other users' cases are simply absent."""
        if not case_ids:
            return {}
        rows = (
            await self._conn.execute(select(cases).where(cases.c.user_id == user_id, cases.c.case_id.in_(case_ids)))
        ).mappings().all()
        tags = await tags_of(self._conn, [row["case_id"] for row in rows])
        return {row["case_id"]: case_from_row(row, tags[row["case_id"]]) for row in rows}

    async def stats(self, query: CaseQuery, window_start: datetime) -> CaseStats:
        """Counts over the selected cases, each computed by the database."""
        values = self._values(query)
        selected = _conditions(self._dialect, _Shape.of(query))

        resolved = cases.c.resolved_at.is_not(None)
        groups = await self._conn.execute(
            select(
                cases.c.status,
                cases.c.severity,
                cases.c.category,
                func.count().label("n"),
                func.sum(case((resolved, 1), else_=0)).label("resolved"),
            )
            .where(*selected)
            .group_by(cases.c.status, cases.c.severity, cases.c.category),
            values,
        )
        by_status: dict[str, int] = {}
        by_severity: dict[str, int] = {}
        by_category: dict[str, int] = {}
        total = resolved_total = 0
        for row in groups:
            for counts, key in ((by_status, row.status), (by_severity, row.severity), (by_category, row.category)):
                counts[key] = counts.get(key, 0) + row.n
            total += row.n
            resolved_total += int(row.resolved or 0)

        tag_count = func.count().label("n")
        top = await self._conn.execute(
            select(case_tags.c.tag, tag_count)
            .join(cases, cases.c.case_id == case_tags.c.case_id)
            .where(*selected, case_tags.c.user_id == query.user_id)
            .group_by(case_tags.c.tag)
            .order_by(tag_count.desc(), case_tags.c.tag)
            .limit(TOP_TAGS),
            values,
        )
        day = self._search.day_of(cases.c.created_at).label("day")
        per_day = await self._conn.execute(
            select(day, func.count().label("n"))
            .where(*selected, cases.c.created_at >= window_start)
            .group_by(day)
            .order_by(day),
            values,
        )
        durations = select(self._search.seconds_between(cases.c.created_at, cases.c.resolved_at).label("seconds")).where(
            *selected, resolved
        )
        count, mean, median = (
            await self._conn.execute(self._search.resolve_times(durations.subquery()), values)
        ).one()
        return CaseStats(
            total=total,
            by_status=by_status,
            by_severity=by_severity,
            by_category=by_category,
            top_tags=[TagCount(tag=tag, count=int(n)) for tag, n in top],
            open=sum(by_status.get(status, 0) for status in _OPEN_STATUSES),
            resolved=resolved_total,
            created_per_day=[(_as_date(row.day), int(row.n)) for row in per_day],
            resolved_count=int(count),
            mean_seconds_to_resolve=None if mean is None else round(float(mean), 3),
            median_seconds_to_resolve=None if median is None else round(float(median), 3),
        )

    def _values(self, query: CaseQuery) -> dict[str, Any]:
        """The values of the parameters of `_conditions` and `_sort_key`: the filters' and the search's."""
        values = _filter_values(query)
        if query.search is not None:
            values.update(self._search.values(query.search, messages=query.search_messages))
        return values


class _Shape(NamedTuple):
    """What a query's statements depend on, as opposed to the values they are executed with: which
    filters it uses, and how many terms it searches for (0: no search). Each statement is built once
    per shape: building it with SQLAlchemy on every request was 8% of a list page's instructions
    (bench/PROFILE.md §17.1)."""

    filters: tuple[str, ...]
    resolved: bool | None
    has_session: bool | None
    terms: int
    search_messages: bool

    @classmethod
    def of(cls, query: CaseQuery) -> _Shape:
        return cls(
            tuple(name for name in _FILTERS if getattr(query, name)),
            query.resolved,
            query.has_session,
            len(query.search.terms) if query.search is not None else 0,
            query.search_messages,
        )


# A query's filters that take values, each as a condition on a parameter named after it; the
# parameter holds the filter's value (`_filter_values`), a list for those matching any of several.
_FILTERS: dict[str, Callable[[], ColumnElement[bool]]] = {
    "statuses": lambda: cases.c.status.in_(bindparam("statuses", expanding=True)),
    "severities": lambda: cases.c.severity.in_(bindparam("severities", expanding=True)),
    "categories": lambda: cases.c.category.in_(bindparam("categories", expanding=True)),
    "session_ids": lambda: cases.c.session_id.in_(bindparam("session_ids", expanding=True)),
    "tags": lambda: cases.c.case_id.in_(
        select(case_tags.c.case_id).where(
            case_tags.c.user_id == bindparam("user_id"), case_tags.c.tag.in_(bindparam("tags", expanding=True))
        )
    ),
    "created_after": lambda: cases.c.created_at >= bindparam("created_after"),
    "created_before": lambda: cases.c.created_at < bindparam("created_before"),
    "updated_after": lambda: cases.c.updated_at >= bindparam("updated_after"),
    "updated_before": lambda: cases.c.updated_at < bindparam("updated_before"),
}


def _filter_values(query: CaseQuery) -> dict[str, Any]:
    values: dict[str, Any] = {"user_id": query.user_id}
    for name in _FILTERS:
        if value := getattr(query, name):
            values[name] = list(value) if isinstance(value, tuple) else value
    return values


@lru_cache(maxsize=256)
def _conditions(dialect: str, shape: _Shape) -> tuple[ColumnElement[bool], ...]:
    """The WHERE of every statement on the cases a query selects, on the parameters of
    `CaseQueries._values`."""
    where: list[ColumnElement[bool]] = [cases.c.user_id == bindparam("user_id")]
    where.extend(_FILTERS[name]() for name in shape.filters)
    if shape.resolved is not None:
        where.append(cases.c.resolved_at.is_not(None) if shape.resolved else cases.c.resolved_at.is_(None))
    if shape.has_session is not None:
        where.append(cases.c.session_id.is_not(None) if shape.has_session else cases.c.session_id.is_(None))
    if shape.terms:
        search = _SEARCH[dialect]
        matches = search.case_matches()
        if shape.search_messages:
            matches = or_(matches, search.message_matches())
        where.append(matches)
    return tuple(where)


@lru_cache(maxsize=256)
def _list_statement(dialect: str, shape: _Shape, sort: CaseSort, resumed: bool) -> Select[Any]:
    """A page of cases in `sort` order, resumed after the position `after_key`, `after_seq` when
    `resumed`. On PostgreSQL each row brings its tags: no second query with the page's ids in a list."""
    sort_key = _sort_key(dialect, sort, shape.terms)
    columns = [cases, sort_key.label("sort_key"), *([TAGS_OF_CASE.label("tags")] if dialect == "postgresql" else [])]
    stmt = select(*columns).where(*_conditions(dialect, shape))
    if resumed:
        position = tuple_(sort_key, cases.c.seq)
        bound = tuple_(bindparam("after_key", type_=sort_key.type), bindparam("after_seq", type_=cases.c.seq.type))
        stmt = stmt.where(position < bound if sort.descending else position > bound)
    order = (sort_key, cases.c.seq)
    stmt = stmt.order_by(*(column.desc() if sort.descending else column.asc() for column in order))
    return stmt.limit(bindparam("page_limit", type_=Integer)).offset(bindparam("page_offset", type_=Integer))


def _layout(params: Mapping[str, Any]) -> tuple[tuple[str, int | None], ...]:
    """The parameters a request gives, each with its number of values when it holds a list (an
    `IN` of that many)."""
    return tuple((name, len(value) if isinstance(value, list) else None) for name, value in params.items())


class _DriverStatement(NamedTuple):
    """A statement as asyncpg runs it, and what each of its `$n` takes: the request's parameter
    `name` (its value at `index` for a value of an `IN` list), or else the statement's own
    `constant` (a literal SQLAlchemy made a parameter, such as a relevance weight)."""

    sql: str
    arguments: tuple[tuple[str | None, int | None, Any], ...]

    def values(self, params: Mapping[str, Any]) -> list[Any]:
        return [
            constant if name is None else params[name] if index is None else params[name][index]
            for name, index, constant in self.arguments
        ]


@lru_cache(maxsize=512)
def _driver_statement(
    dialect: Dialect, stmt: Select[Any], layout: tuple[tuple[str, int | None], ...]
) -> _DriverStatement:
    """`stmt` compiled for asyncpg, with each `IN` list as long as `layout` says."""
    expanded = stmt.compile(dialect=dialect).construct_expanded_state(
        {name: None if length is None else [None] * length for name, length in layout}
    )
    assert expanded.positiontup is not None, "asyncpg's dialect numbers its parameters"
    given = dict(layout)
    in_lists = {key: (name, i) for name, keys in expanded.parameter_expansion.items() for i, key in enumerate(keys)}
    arguments = tuple(
        (*in_lists[key], None) if key in in_lists
        else (key, None, None) if key in given
        else (None, None, expanded.parameters[key])
        for key in expanded.positiontup
    )  # fmt: skip
    return _DriverStatement(expanded.statement, arguments)


def _sort_key(dialect: str, sort: CaseSort, terms: int) -> ColumnElement[Any]:
    """The expression cases are ordered by (a search's relevance takes the search's values)."""
    if sort.field is SortField.RELEVANCE:
        assert terms, "relevance without a search"
        return _SEARCH[dialect].score(terms)
    if sort.field is SortField.TITLE:
        return _SEARCH[dialect].title_key()
    return {
        SortField.CREATED_AT: cases.c.created_at,
        SortField.UPDATED_AT: cases.c.updated_at,
        SortField.SEVERITY: SEVERITY_KEY,
        SortField.STATUS: STATUS_KEY,
    }[sort.field]


TOP_TAGS = 10


def _as_date(value: Any) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value))


class _PostgresSearch:
    """tsquery rendering over `search_vector` columns. Lexemes are single-quoted (words are only
    letters and digits, quotes are escaped anyway); each rendered query is a parameter that
    `_tsquery` makes a `tsquery` once per execution (see the module's docstring)."""

    _vector = literal_column("cases.search_vector", TSVECTOR)
    _message_vector = literal_column("case_messages.search_vector", TSVECTOR)

    def case_matches(self) -> ColumnElement[bool]:
        return self._vector.op("@@")(_tsquery(_MATCH))

    def message_matches(self) -> ColumnElement[bool]:
        """A message of the case matches: tested case by case among the user's, through the case's
        messages. Not `case_id IN (messages that match)`: that reads the matches of every user's
        messages, hundreds of thousands for a common word: on the benchmark's data about 1 s for
        any user, and the 10 s statement timeout (a 503) with the custom plans used before."""
        return exists(
            select(literal_column("1"))
            .where(
                case_messages.c.case_id == cases.c.case_id,
                self._message_vector.op("@@")(_tsquery(_MESSAGE_MATCH)),
            )
            # OFFSET 0 keeps PostgreSQL from turning the test into a hashed subplan (or a semi
            # join) that reads every user's matching messages: it chose that from statistics
            # that could say a light user holds thousands of cases (bench/PROFILE.md §19.6).
            .offset(literal_column("0"))
        )

    @staticmethod
    @cache
    def score(term_count: int) -> ColumnElement[int]:
        """The relevance of a search with `term_count` terms: built once per count (building it is
        most of a search's Python time), with the terms' queries as parameters (`values`)."""
        score: ColumnElement[int] = literal_column("0", Integer)
        for index in range(term_count):
            for field_name, weight in RELEVANCE_WEIGHTS.items():
                tsquery = _tsquery(_score_key(index, field_name))
                score = score + case((_PostgresSearch._vector.op("@@")(tsquery), weight), else_=0)
        return score

    def values(self, search: SearchQuery, *, messages: bool) -> dict[str, str]:
        """The text of every tsquery the search's statements take."""
        rendered = {_MATCH: " & ".join(self._term_in_one_field(term) for term in search.terms)}
        if messages:
            rendered[_MESSAGE_MATCH] = " & ".join(f"({_tsquery_term(term)})" for term in search.terms)
        for index, term in enumerate(search.terms):
            for field_name in RELEVANCE_WEIGHTS:
                rendered[_score_key(index, field_name)] = _tsquery_term(term, _PG_WEIGHT[field_name])
        return rendered

    def title_key(self) -> ColumnElement[str]:
        # Byte order of the UTF-8 text, as SQLite's BINARY collation: the same order on both.
        return cases.c.title.collate("C")

    def _term_in_one_field(self, term: SearchTerm) -> str:
        """A phrase matches within one field, as in FTS5 (the vector's fields are adjacent)."""
        if not term.is_phrase:
            return _tsquery_term(term)
        return "(" + " | ".join(_tsquery_term(term, letter) for letter in _PG_WEIGHT.values()) + ")"

    @staticmethod
    def day_of(column: ColumnElement[datetime]) -> ColumnElement[Any]:
        return func.date(func.timezone("UTC", column))

    @staticmethod
    def seconds_between(start: ColumnElement[datetime], end: ColumnElement[datetime]) -> ColumnElement[float]:
        return extract("epoch", end - start)

    @staticmethod
    def resolve_times(durations: Any) -> Select[Any]:
        return select(
            func.count(durations.c.seconds),
            func.avg(durations.c.seconds),
            func.percentile_cont(0.5).within_group(durations.c.seconds),
        )


def _tsquery(name: str) -> ColumnElement[Any]:
    """`(SELECT to_tsquery('simple', :name))`: the tsquery of the text in parameter `name`, made
    once per execution whatever the plan (see the module's docstring). The tsquery is PostgreSQL's
    own: a literal rendered in Python would differ, since its parser drops characters Python counts
    as parts of words (`½`, `²`)."""
    return select(func.to_tsquery(literal_column("'simple'"), bindparam(name, type_=Text), type_=TSQUERY)).scalar_subquery()


def _tsquery_term(term: SearchTerm, weight: str = "") -> str:
    """`'a' <-> 'b':*`, each lexeme limited to the field's weight letter when one is given."""
    label = ":" + weight if weight else ""
    lexemes = [_lexeme(word) + label for word in term.words[:-1]]
    lexemes.append(_lexeme(term.words[-1]) + (":*" + weight if term.prefix else label))
    return " <-> ".join(lexemes)


def _lexeme(word: str) -> str:
    return "'" + word.replace("\\", "\\\\").replace("'", "''") + "'"


# The FTS5 tables of migration 0006, as far as queries read them.
_cases_fts = table("cases_fts", column("rowid", Integer))
_messages_fts = table("case_messages_fts", column("rowid", Integer), column("case_id", String))


class _SqliteSearch:
    """FTS5 MATCH strings over `cases_fts` (rowid = cases.seq) and `case_messages_fts`. Every
    word is double-quoted, so FTS5 operators typed by a user are only words."""

    def case_matches(self) -> ColumnElement[bool]:
        return self._case_match(bindparam(_MATCH, type_=String))

    def message_matches(self) -> ColumnElement[bool]:
        match = bindparam(_MESSAGE_MATCH, type_=String)
        messages = select(_messages_fts.c.case_id).where(literal_column(_messages_fts.name).op("MATCH")(match))
        return cases.c.case_id.in_(messages)

    @staticmethod
    @cache
    def score(term_count: int) -> ColumnElement[int]:
        """As PostgreSQL's: one expression per term count, the MATCH strings as parameters."""
        score: ColumnElement[int] = literal_column("0", Integer)
        for index in range(term_count):
            for field_name, weight in RELEVANCE_WEIGHTS.items():
                match = bindparam(_score_key(index, field_name), type_=String)
                score = score + case((_SqliteSearch._case_match(match), weight), else_=0)
        return score

    @staticmethod
    def values(search: SearchQuery, *, messages: bool) -> dict[str, str]:
        """The MATCH strings of the search's statements."""
        match = " AND ".join(_fts_term(term) for term in search.terms)
        values = {_MATCH: match, **({_MESSAGE_MATCH: match} if messages else {})}
        for index, term in enumerate(search.terms):
            for field_name in RELEVANCE_WEIGHTS:
                values[_score_key(index, field_name)] = f"{field_name} : {_fts_term(term)}"
        return values

    def title_key(self) -> ColumnElement[str]:
        return cases.c.title

    @staticmethod
    def _case_match(match: ColumnElement[str]) -> ColumnElement[bool]:
        found = select(_cases_fts.c.rowid).where(literal_column(_cases_fts.name).op("MATCH")(match))
        return cases.c.seq.in_(found)

    @staticmethod
    def day_of(column: ColumnElement[datetime]) -> ColumnElement[Any]:
        return func.date(column)

    @staticmethod
    def seconds_between(start: ColumnElement[datetime], end: ColumnElement[datetime]) -> ColumnElement[float]:
        # Stored as UTC text: whole seconds from strftime('%s'), fractions from '%f' (to the ms).
        def seconds(column: ColumnElement[datetime]) -> ColumnElement[float]:
            return func.strftime("%s", column) + func.strftime("%f", column) - func.strftime("%S", column)

        return seconds(end) - seconds(start)

    @staticmethod
    def resolve_times(durations: Any) -> Select[Any]:
        """The median without percentile functions: the middle value (the mean of the middle two
        for an even count) of the durations numbered in order."""
        numbered = select(
            durations.c.seconds,
            func.row_number().over(order_by=durations.c.seconds).label("n"),
            func.count().over().label("total"),
        ).subquery()
        middle = select(func.avg(numbered.c.seconds)).where(
            numbered.c.n.in_([(numbered.c.total + 1) // 2, (numbered.c.total + 2) // 2])
        )
        return select(
            func.count(durations.c.seconds), func.avg(durations.c.seconds), middle.scalar_subquery()
        )


_SEARCH: dict[str, _PostgresSearch | _SqliteSearch] = {"postgresql": _PostgresSearch(), "sqlite": _SqliteSearch()}


def _score_key(index: int, field_name: str) -> str:
    return f"relevance_{index}_{field_name}"


def _fts_term(term: SearchTerm) -> str:
    phrase = '"' + " ".join(word.replace('"', '""') for word in term.words) + '"'
    return phrase + " *" if term.prefix else phrase

