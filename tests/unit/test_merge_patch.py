"""RFC 7386 merge semantics, and what a merge patch means for a case's fields (no database)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from case_service.domain.case import Case
from case_service.domain.errors import InvalidInput
from case_service.domain.merge_patch import case_changes_from_merge_patch, merge_patch


@pytest.mark.parametrize(
    ("target", "patch", "result"),
    [
        ({"a": "b"}, {"a": "c"}, {"a": "c"}),
        ({"a": "b"}, {"b": "c"}, {"a": "b", "b": "c"}),
        ({"a": "b"}, {"a": None}, {}),
        ({"a": "b", "b": "c"}, {"a": None}, {"b": "c"}),
        ({"a": ["b"]}, {"a": "c"}, {"a": "c"}),
        ({"a": "c"}, {"a": ["b"]}, {"a": ["b"]}),
        ({"a": {"b": "c"}}, {"a": {"b": "d", "c": None}}, {"a": {"b": "d"}}),
        ({"a": [{"b": "c"}]}, {"a": [1]}, {"a": [1]}),
        ({"e": None}, {"a": 1}, {"e": None, "a": 1}),
        ([1, 2], {"a": "b", "c": None}, {"a": "b"}),
        ({}, {"a": {"bb": {"ccc": None}}}, {"a": {"bb": {}}}),
    ],
)
def test_merge_patch_follows_rfc_7386(target: object, patch: object, result: object) -> None:
    assert merge_patch(target, patch) == result


def test_the_target_is_not_modified() -> None:
    target = {"a": {"b": 1}}
    merge_patch(target, {"a": {"b": None}})
    assert target == {"a": {"b": 1}}


def _case() -> Case:
    return Case.open(
        case_id="case_0123456789ab",
        user_id="u",
        title="T",
        now=datetime(2026, 1, 1, tzinfo=UTC),
        metadata={"keep": 1, "drop": 2},
        tags=["a"],
        description="d",
        session_id="s",
    )


def test_nulls_clear_and_metadata_merges() -> None:
    changes = case_changes_from_merge_patch(
        _case(), {"description": None, "session_id": None, "tags": None, "metadata": {"drop": None, "new": 3}}
    )
    assert changes == {"description": "", "session_id": None, "tags": [], "metadata": {"keep": 1, "new": 3}}


@pytest.mark.parametrize("field", ["title", "severity", "category"])
def test_null_is_refused_where_the_case_has_no_empty_value(field: str) -> None:
    with pytest.raises(InvalidInput) as error:
        case_changes_from_merge_patch(_case(), {field: None})
    assert error.value.field == field
