"""Full-text search with `q`: the same answers on SQLite (FTS5) and PostgreSQL (tsvector)."""

from __future__ import annotations

from typing import Any

import pytest
from httpx import AsyncClient
from sqlalchemy import text

from tests.api.helpers import create, post_message
from tests.api.test_listing import page_through


async def found(client: AsyncClient, q: str, **params: Any) -> list[str]:
    response = await client.get("/api/v1/cases", params={"q": q, **params})
    assert response.status_code == 200, (q, response.text)
    return [case["title"] for case in response.json()["cases"]]


@pytest.fixture
async def library(client: AsyncClient) -> None:
    await create(client, title="Database timeout", description="Checkout calls hang on the connection pool.")
    await create(client, title="Login page broken", description="The timeout is on the auth service.", tags=["auth"])
    await create(client, title="Slow queries", description="Connection-pool exhaustion under load", tags=["database"])
    await create(client, title="Café menu", description="Naïve encoding bug", tags=["ui"])


async def test_words_are_anded_case_insensitive_over_title_tags_and_description(
    client: AsyncClient, library: None
) -> None:
    assert set(await found(client, "timeout")) == {"Database timeout", "Login page broken"}
    assert await found(client, "TIMEOUT auth") == ["Login page broken"]
    assert set(await found(client, "database")) == {"Database timeout", "Slow queries"}  # title, tag
    assert await found(client, "timeout queries") == []
    assert await found(client, "café") == ["Café menu"]
    assert await found(client, "cafe") == []  # accents are kept, as typed


async def test_prefixes_and_phrases(client: AsyncClient, library: None) -> None:
    assert set(await found(client, "time*")) == {"Database timeout", "Login page broken"}
    assert set(await found(client, "conn*")) == {"Database timeout", "Slow queries"}
    assert set(await found(client, '"connection pool"')) == {"Database timeout", "Slow queries"}
    assert await found(client, '"pool connection"') == []  # a phrase keeps its order
    assert await found(client, '"connection pool" exhaus*') == ["Slow queries"]
    # Equal relevance: the later-created first.
    assert await found(client, '"connection po"*') == ["Slow queries", "Database timeout"]
    # Punctuation splits words like the index does: "connection-pool" is the phrase "connection pool".
    assert set(await found(client, "connection-pool")) == {"Database timeout", "Slow queries"}


async def test_a_phrase_does_not_run_from_one_field_into_the_next(client: AsyncClient) -> None:
    await create(client, title="alpha", description="beta", tags=["gamma"])
    assert await found(client, "alpha beta gamma") == ["alpha"]
    assert await found(client, '"alpha beta"') == []
    assert await found(client, '"beta gamma"') == []


async def test_results_are_ranked_title_over_tags_over_description(client: AsyncClient) -> None:
    await create(client, title="in the description", description="kafka lag")
    await create(client, title="kafka in the title")
    await create(client, title="in the tags", tags=["kafka"])
    await create(client, title="kafka everywhere", description="kafka", tags=["kafka"])
    assert await found(client, "kafka") == [
        "kafka everywhere",
        "kafka in the title",
        "in the tags",
        "in the description",
    ]
    assert await found(client, "kafka", sort="relevance") == [
        "in the description",
        "in the tags",
        "kafka in the title",
        "kafka everywhere",
    ]
    assert await found(client, "kafka", sort="title") == [
        "in the description",
        "in the tags",
        "kafka everywhere",
        "kafka in the title",
    ]
    paged = await page_through(client, q="kafka", limit=1)
    assert [c["title"] for c in paged] == await found(client, "kafka")


async def test_the_index_follows_every_change(client: AsyncClient) -> None:
    case_id = (await create(client, title="first name", tags=["old"]))["case_id"]
    await client.put(f"/api/v1/cases/{case_id}", json={"title": "second name", "description": "fresh words"})
    assert await found(client, "first") == []
    assert await found(client, "second fresh") == ["second name"]
    await client.post(f"/api/v1/cases/{case_id}/tags", json={"tags": ["Newtag"]})
    assert await found(client, "newtag old") == ["second name"]
    await client.delete(f"/api/v1/cases/{case_id}/tags/old")
    assert await found(client, "old") == []
    await client.put(f"/api/v1/cases/{case_id}", json={"tags": ["replaced"]})
    assert await found(client, "newtag") == [] and await found(client, "replaced") == ["second name"]
    await client.delete(f"/api/v1/cases/{case_id}")
    assert await found(client, "second") == []


async def test_in_messages_also_searches_the_conversation(client: AsyncClient) -> None:
    talked = (await create(client, title="quiet title"))["case_id"]
    await post_message(client, talked, "The stack trace mentions NullPointerException in the billing job")
    await post_message(client, talked, "Rollback fixed it")
    await create(client, title="billing report")
    assert await found(client, "billing") == ["billing report"]
    assert set(await found(client, "billing", **{"in": "messages"})) == {"quiet title", "billing report"}
    # One message must hold the whole query (here "rollback" and "billing" are in different ones).
    assert await found(client, "rollback billing", **{"in": "messages"}) == []
    assert await found(client, "nullpointer*", **{"in": "messages"}) == ["quiet title"]
    # The case's own fields still match, and a case matching both is listed once.
    await post_message(client, talked, "quiet please")
    assert await found(client, "quiet", **{"in": "messages"}) == ["quiet title"]
    bad = await client.get("/api/v1/cases", params={"in": "messages"})
    assert bad.status_code == 422 and bad.json()["details"]["errors"][0]["field"] == "in"


async def test_search_combines_with_filters_and_stays_within_the_callers_cases(
    client: AsyncClient, bob: AsyncClient
) -> None:
    await create(client, title="disk full", severity="high")
    await create(client, title="disk slow", severity="low")
    await create(bob, title="disk gone", severity="high")
    assert await found(client, "disk", severity="high") == ["disk full"]
    assert set(await found(client, "disk")) == {"disk full", "disk slow"}
    counted = (await client.get("/api/v1/cases", params={"q": "disk", "include_total": "true"})).json()
    assert counted["total"] == 2


@pytest.mark.parametrize(
    ("q", "message"),
    [
        ("", "no words"),
        ("   ", "no words"),
        ("!!! ---", "no words"),
        ('"unbalanced', "never closed"),
        ('ok "still open', "never closed"),
        ("*", "stand alone"),
        ("foo *", "stand alone"),
        ("*foo", "only end a word"),
        ("fo*o", "only end a word"),
        ("foo**", "only end a word"),
        ('""', "no words"),
        ('"a"b', "space after"),
        ("x" * 201, "at most 200"),
        (" ".join(f"w{i}" for i in range(17)), "at most 16"),
        ("nul\x00byte", "NUL"),
    ],
)
async def test_malformed_queries_answer_422_naming_q(client: AsyncClient, q: str, message: str) -> None:
    response = await client.get("/api/v1/cases", params={"q": q})
    assert response.status_code == 422, response.text
    error = response.json()["details"]["errors"][0]
    assert (error["field"], error["location"]) == ("q", "query")
    assert message in error["message"], error["message"]


@pytest.mark.parametrize(
    "q",
    [
        "') | ('",
        "foo' & !bar",
        "a:* | b",
        "title : drop",
        "NEAR(drop table)",
        "drop OR table",
        "NOT table",
        "-drop",
        "{title} : drop",
        "\\' drop",
        "%_ drop",
        "drop^ table",
        '"drop" AND "table"',
        "drop; DELETE FROM cases",
    ],
)
async def test_query_language_of_either_database_is_only_words(client: AsyncClient, q: str) -> None:
    """Operators of tsquery or FTS5 are searched as words (or dropped as punctuation), never run."""
    await create(client, title="drop table", description="and or not near title")
    response = await client.get("/api/v1/cases", params={"q": q})
    assert response.status_code in (200, 422), response.text
    if response.status_code == 200:
        assert [c["title"] for c in response.json()["cases"]] in ([], ["drop table"])
    assert (await client.get("/api/v1/cases", params={"include_total": "true"})).json()["total"] == 1


async def test_and_or_not_are_plain_words(client: AsyncClient) -> None:
    await create(client, title="drop table")
    await create(client, title="drop or table")
    assert await found(client, "drop OR table") == ["drop or table"]
    assert await found(client, "NOT table") == []


async def test_a_deleted_case_leaves_nothing_in_the_search_indexes(client: AsyncClient, app: object) -> None:
    case_id = (await create(client, title="gone soon", tags=["db"]))["case_id"]
    for content in ("first words", "second words"):
        await post_message(client, case_id, content)
    kept = (await create(client, title="kept"))["case_id"]
    await post_message(client, kept, "kept words")
    assert (await client.delete(f"/api/v1/cases/{case_id}")).status_code == 204
    database = app.state.database  # type: ignore[attr-defined]
    # The index rows themselves: FTS5 tables on SQLite, the indexed columns on PostgreSQL.
    tables = ("cases_fts", "case_messages_fts") if database.dialect == "sqlite" else ("cases", "case_messages")
    async with database.connection(write=False) as conn:
        counts = [(await conn.execute(text(f"SELECT count(*) FROM {table}"))).scalar_one() for table in tables]
    assert counts == [1, 1]
    assert await found(client, "words", **{"in": "messages"}) == ["kept"]


@pytest.mark.postgres_only
@pytest.mark.parametrize("backend", ["postgresql"])
async def test_new_cases_and_messages_are_searchable_from_the_index_itself(app: object, client: AsyncClient) -> None:
    """No GIN pending list that every search would read through (migration 0012): once a case and a
    message are written, the indexes have nothing pending to merge."""
    case = await create(client, title="Disk full on db-1", tags=["disk"])
    await post_message(client, case["case_id"], "df shows 100% on /var")
    assert [c["case_id"] for c in (await client.get("/api/v1/cases", params={"q": "disk"})).json()["cases"]] == [
        case["case_id"]
    ]
    async with app.state.database.connection(write=True) as conn:  # type: ignore[attr-defined]
        for index in ("ix_cases_user_search", "ix_case_messages_search_vector"):
            merge = text("SELECT gin_clean_pending_list(CAST(:index AS regclass))")
            assert (await conn.execute(merge, {"index": index})).scalar_one() == 0, f"{index} held pending pages"
