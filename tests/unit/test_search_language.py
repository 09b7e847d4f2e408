"""The search language and the list sort, as plain domain rules (no database)."""

from __future__ import annotations

import pytest

from case_service.domain.errors import InvalidInput
from case_service.domain.queries import CaseQuery, CaseSort, SortField
from case_service.domain.search import SearchTerm, parse_search


def terms(text: str) -> list[tuple[tuple[str, ...], bool]]:
    return [(term.words, term.prefix) for term in parse_search(text).terms]


def test_words_prefixes_and_phrases() -> None:
    assert terms("Timeout  checkout") == [(("timeout",), False), (("checkout",), False)]
    assert terms("time*") == [(("time",), True)]
    assert terms('"Connection Pool" db') == [(("connection", "pool"), False), (("db",), False)]
    assert terms('"connection po"* x') == [(("connection", "po"), True), (("x",), False)]
    assert terms('a"b c"') == [(("a",), False), (("b", "c"), False)]


def test_punctuation_splits_words_and_nothing_else_has_meaning() -> None:
    assert terms("connection-pool") == [(("connection", "pool"), False)]
    assert terms("foo-ba*") == [(("foo", "ba"), True)]
    assert terms("a:* | b & !c") == [(("a",), True), (("b",), False), (("c",), False)]
    assert terms("x_y O'Brien") == [(("x", "y"), False), (("o", "brien"), False)]
    assert terms("NOT drop OR table") == [(("not",), False), (("drop",), False), (("or",), False), (("table",), False)]
    assert terms("café ÉCOLE") == [(("café",), False), (("école",), False)]
    # What reaches an adapter is only letters and digits.
    for term in parse_search("') | (' \\ \"; DROP\" %_ {title}: x").terms:
        assert all(word.isalnum() for word in term.words)


@pytest.mark.parametrize("text", ["", " ", "!!!", '"x', "*", "x *", "*x", "x*y", "x**", '""', '"a"b', "x" * 201, "\x00"])
def test_malformed_queries_name_q(text: str) -> None:
    with pytest.raises(InvalidInput) as error:
        parse_search(text)
    assert error.value.field == "q"


def test_a_term_knows_whether_it_is_a_phrase() -> None:
    assert SearchTerm(("a", "b")).is_phrase and not SearchTerm(("a",)).is_phrase


def test_sorts_parse_with_direction_and_relevance_needs_a_search() -> None:
    assert CaseSort.parse("-severity", searching=False) == CaseSort(SortField.SEVERITY, True)
    assert str(CaseSort.parse("title", searching=False)) == "title"
    assert CaseSort.parse("relevance", searching=True).field is SortField.RELEVANCE
    for bad, searching in (("relevance", False), ("size", True), ("--title", True), ("+title", True)):
        with pytest.raises(InvalidInput):
            CaseSort.parse(bad, searching=searching)


def test_the_selection_key_ignores_page_and_order_of_repeated_values() -> None:
    one = CaseQuery(user_id="u", statuses=("active", "closed"), limit=10, offset=0)
    other = CaseQuery(user_id="u", statuses=("closed", "active"), limit=50, include_total=True)
    assert one.selection_key() == other.selection_key()
    assert one.selection_key() != CaseQuery(user_id="v", statuses=("active", "closed")).selection_key()
