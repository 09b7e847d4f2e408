"""Property: paging with the cursor through any filter, search and sort yields exactly the selected
cases, in order, each once — on SQLite and PostgreSQL.

The expected answer comes from an oracle written here in plain Python from the documented rules
(filters, the search language, relevance scores, sort ranks, creation-order ties), so the test
also shows both databases implement the same semantics.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from httpx import AsyncClient

from case_service.domain.case import CaseStatus, Severity
from case_service.domain.queries import RELEVANCE_WEIGHTS
from case_service.domain.search import SearchQuery, parse_search, words_of
from tests.api.helpers import create
from tests.conftest import FrozenClock

START = datetime(2026, 5, 1, 8, 0, tzinfo=UTC)
VOCABULARY = ["disk", "disks", "network", "timeout", "Pool", "queue", "Zeta", "alpha"]
TAGS = ["db", "net", "ui"]
# How to reach each status from active, and whether the case then has a resolved_at.
PATHS = {
    "active": [],
    "investigating": ["investigating"],
    "resolved": ["investigating", "resolved"],
    "closed": ["closed"],
    "archived": ["investigating", "resolved", "archived"],
}


@dataclass(frozen=True)
class Row:
    order: int  # creation order (the tie-break)
    case: dict[str, Any]


async def build_dataset(client: AsyncClient, clock: FrozenClock) -> list[Row]:
    """28 cases: some created in the same instant, varied in every field the list reads."""
    clock.now = START
    rows = []
    for i in range(28):
        words = [VOCABULARY[(i * k + i // 3) % len(VOCABULARY)] for k in (1, 3, 5)]
        created = await create(
            client,
            title=f"{words[0]} {words[1]}" if i % 4 else f"{words[1]}-{words[0]}",
            description=f"{words[2]} {words[0]}" if i % 3 else "",
            severity=list(Severity)[(i * 7) % 4].value,
            tags=[TAGS[j] for j in range(3) if (i >> j) & 1],
            **({"session_id": f"s{i % 2}"} if i % 5 else {}),
        )
        status = list(PATHS)[(i * 3) % 5]
        for step in PATHS[status]:
            clock.now += timedelta(seconds=7)
            response = await client.post(f"/api/v1/cases/{created['case_id']}/status", json={"status": step})
            assert response.status_code == 200, response.text
        if i % 3 != 1:
            clock.now += timedelta(seconds=1)  # every third case shares its creation instant
        rows.append(Row(i, created))
    listed = {c["case_id"]: c for c in (await client.get("/api/v1/cases", params={"limit": 100})).json()["cases"]}
    return [Row(row.order, listed[row.case["case_id"]]) for row in rows]


def term_score(case: dict[str, Any], query: SearchQuery) -> int | None:
    """The documented relevance of the case for the query, or None when it does not match."""
    fields = {
        "title": [words_of(case["title"])],
        "tags": [tuple(word for tag in case["tags"] for word in words_of(tag))],
        "description": [words_of(case["description"])],
    }
    score = 0
    for term in query.terms:
        best = [weight for name, weight in RELEVANCE_WEIGHTS.items() if any(_holds(w, term) for w in fields[name])]
        if not best:
            return None
        score += sum(best)
    return score


def _holds(words: tuple[str, ...], term: Any) -> bool:
    size = len(term.words)
    for start in range(len(words) - size + 1):
        window = words[start : start + size]
        if window[:-1] == term.words[:-1] and (
            window[-1].startswith(term.words[-1]) if term.prefix else window[-1] == term.words[-1]
        ):
            return True
    return False


def expected(rows: list[Row], params: dict[str, Any]) -> list[str]:
    query = parse_search(params["q"]) if "q" in params else None
    selected = []
    for row in rows:
        case = row.case
        if params.get("status") and case["status"] not in params["status"]:
            continue
        if params.get("severity") and case["severity"] not in params["severity"]:
            continue
        if params.get("tag") and not set(params["tag"]) & set(case["tags"]):
            continue
        if "has_session" in params and (case["session_id"] is not None) != (params["has_session"] == "true"):
            continue
        if "resolved" in params and (case["resolved_at"] is not None) != (params["resolved"] == "true"):
            continue
        created = datetime.fromisoformat(case["created_at"])
        if "created_after" in params and created < datetime.fromisoformat(params["created_after"]):
            continue
        if "created_before" in params and created >= datetime.fromisoformat(params["created_before"]):
            continue
        score = term_score(case, query) if query else 0
        if score is None:
            continue
        selected.append((row, score))
    sort = params.get("sort") or ("-relevance" if query else "-created_at")
    descending, name = sort.startswith("-"), sort.lstrip("-")

    def key(item: tuple[Row, int]) -> tuple[Any, int]:
        row, score = item
        value = {
            "created_at": lambda: datetime.fromisoformat(row.case["created_at"]),
            "updated_at": lambda: datetime.fromisoformat(row.case["updated_at"]),
            "severity": lambda: list(Severity).index(Severity(row.case["severity"])),
            "status": lambda: list(CaseStatus).index(CaseStatus(row.case["status"])),
            "title": lambda: row.case["title"],
            "relevance": lambda: score,
        }[name]()
        return value, row.order

    return [row.case["case_id"] for row, _ in sorted(selected, key=key, reverse=descending)]


def _instant(seconds: int) -> str:
    return (START + timedelta(seconds=seconds)).isoformat()


def _query() -> st.SearchStrategy[str]:
    word = st.sampled_from(VOCABULARY).map(str.lower)
    prefix = st.sampled_from(VOCABULARY).map(lambda w: w.lower()[: max(1, len(w) - 2)] + "*")
    phrase = st.lists(word, min_size=2, max_size=2).map(lambda ws: '"' + " ".join(ws) + '"')
    return st.lists(st.one_of(word, prefix, phrase), min_size=1, max_size=2).map(" ".join)


@st.composite
def list_params(draw: st.DrawFn) -> dict[str, Any]:
    params: dict[str, Any] = {"limit": draw(st.integers(1, 6))}
    for name, values in (("status", list(PATHS)), ("severity", [s.value for s in Severity]), ("tag", TAGS)):
        chosen = draw(st.lists(st.sampled_from(values), max_size=2, unique=True))
        if chosen:
            params[name] = chosen
    for name in ("has_session", "resolved"):
        choice = draw(st.sampled_from([None, "true", "false"]))
        if choice:
            params[name] = choice
    if draw(st.booleans()):
        params["created_after"] = _instant(draw(st.integers(0, 80)))
    if draw(st.booleans()):
        params["created_before"] = _instant(draw(st.integers(20, 150)))
    searching = draw(st.booleans())
    if searching:
        params["q"] = draw(_query())
    fields = ["created_at", "updated_at", "severity", "status", "title"] + (["relevance"] if searching else [])
    if draw(st.booleans()):
        params["sort"] = draw(st.sampled_from(["", "-"])) + draw(st.sampled_from(fields))
    return params


@pytest.fixture
async def dataset(client: AsyncClient, clock: FrozenClock) -> list[Row]:
    return await build_dataset(client, clock)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(params=list_params())
async def test_cursor_paging_yields_the_selection_in_order_once(
    client: AsyncClient, dataset: list[Row], params: dict[str, Any]
) -> None:
    want = expected(dataset, params)
    seen: list[str] = []
    cursor = None
    for _ in range(len(dataset) + 2):
        response = await client.get("/api/v1/cases", params={**params, **({"cursor": cursor} if cursor else {})})
        assert response.status_code == 200, (params, response.text)
        body = response.json()
        assert len(body["cases"]) <= params["limit"]
        seen += [case["case_id"] for case in body["cases"]]
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert seen == want, params
