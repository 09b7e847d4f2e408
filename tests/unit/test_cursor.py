"""Cursors: round trip, and refusal of anything altered, foreign or for another selection."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest

from case_service.api.cursor import CursorCodec
from case_service.domain.errors import InvalidCursor
from case_service.domain.queries import CaseQuery, CaseSort, SortField

QUERY = CaseQuery(user_id="alice", severities=("high",))


def test_a_cursor_round_trips_its_position_for_every_key_type() -> None:
    codec = CursorCodec(b"k" * 32)
    for sort, key in (
        (CaseSort(SortField.CREATED_AT, True), datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)),
        (CaseSort(SortField.SEVERITY, False), 3),
        (CaseSort(SortField.TITLE, False), "Zeta \u00e9"),
    ):
        query = replace(QUERY, sort=sort)
        assert codec.decode(codec.encode(query, (key, 42)), query) == (key, 42)


def test_another_key_another_selection_or_an_edit_is_refused() -> None:
    codec = CursorCodec(b"k" * 32)
    token = codec.encode(QUERY, (datetime(2026, 1, 1, tzinfo=UTC), 7))
    with pytest.raises(InvalidCursor):
        CursorCodec(b"other" * 8).decode(token, QUERY)
    with pytest.raises(InvalidCursor):
        codec.decode(token, replace(QUERY, severities=("low",)))
    payload, signature = token.split(".")
    with pytest.raises(InvalidCursor):
        codec.decode(payload[:-1] + ("A" if payload[-1] != "A" else "B") + "." + signature, QUERY)
    # Paging parameters are not part of the selection.
    assert codec.decode(token, replace(QUERY, limit=7, offset=0))[1] == 7
