"""Messages, tag changes and the audit details of events, on the aggregate alone."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from case_service.domain.case import MAX_TAGS, Case
from case_service.domain.errors import InvalidInput
from case_service.domain.events import CaseMessageAdded, CaseUpdated
from case_service.domain.messages import MESSAGE_CONTENT_MAX_LENGTH, MessageRole

T0 = datetime(2026, 3, 7, 9, 30, tzinfo=UTC)


def new_case(**fields: object) -> Case:
    values: dict[str, object] = {"case_id": "case_0123456789ab", "user_id": "alice", "title": "Disk full", "now": T0}
    values.update(fields)
    return Case.open(**values)  # type: ignore[arg-type]


def add(case: Case, content: str = "hello", role: str = "user", at: datetime = T0) -> object:
    return case.add_message(message_id=f"msg_{case.message_count}", role=role, content=content, metadata={}, now=at)


def test_a_new_case_has_no_messages_and_its_last_activity_is_its_creation() -> None:
    case = new_case()
    assert (case.message_count, case.last_activity_at) == (0, T0)


def test_messages_get_consecutive_sequences_and_each_is_a_change_of_the_case() -> None:
    case = new_case()
    later = T0 + timedelta(minutes=5)
    first = add(case, "one")
    second = add(case, "two", role="assistant", at=later)
    assert [first.sequence, second.sequence] == [1, 2]  # type: ignore[attr-defined]
    assert second.role is MessageRole.ASSISTANT  # type: ignore[attr-defined]
    assert (case.message_count, case.version) == (2, 3)
    assert case.last_activity_at == later
    assert case.updated_at == T0  # the case's own fields did not change


def test_adding_a_message_records_an_event_that_refers_to_it_without_its_content() -> None:
    case = new_case()
    add(case, "secret password in a log line")
    event = case.events[-1]
    assert isinstance(event, CaseMessageAdded)
    payload = event.payload()
    assert payload["sequence"] == 1 and payload["message_id"] == "msg_0"
    assert payload["content_length"] == len("secret password in a log line")
    assert "content" not in payload and "secret" not in str(payload)
    assert event.version == 2


@pytest.mark.parametrize(
    ("role", "content", "field"),
    [
        ("robot", "hi", "role"),
        ("user", "", "content"),
        ("user", " \n\t", "content"),
        ("user", "x" * (MESSAGE_CONTENT_MAX_LENGTH + 1), "content"),
        ("user", 42, "content"),
    ],
)
def test_a_bad_message_is_refused_and_changes_nothing(role: str, content: object, field: str) -> None:
    case = new_case()
    with pytest.raises(InvalidInput) as error:
        case.add_message(message_id="m", role=role, content=content, metadata={}, now=T0)
    assert error.value.field == field
    assert (case.message_count, case.version, len(case.events)) == (0, 1, 1)


def test_content_of_the_largest_size_is_kept_exactly() -> None:
    case = new_case()
    text = "  x" * (MESSAGE_CONTENT_MAX_LENGTH // 3)
    assert add(case, text).content == text  # type: ignore[attr-defined]


def test_adding_tags_normalizes_and_an_existing_tag_is_no_change() -> None:
    case = new_case(tags=["db"])
    assert case.add_tags(["DB", " db "], T0) == {}
    assert case.version == 1
    changes = case.add_tags([" Timeout", "db"], T0 + timedelta(seconds=1))
    assert (changes["tags"].old, changes["tags"].new) == (["db"], ["db", "timeout"])
    assert case.version == 2


def test_tags_beyond_the_maximum_are_refused() -> None:
    case = new_case(tags=[f"t{i}" for i in range(MAX_TAGS)])
    with pytest.raises(InvalidInput):
        case.add_tags(["one-more"], T0)
    assert len(case.tags) == MAX_TAGS


def test_removing_a_tag_matches_after_normalization_and_an_absent_tag_is_no_change() -> None:
    case = new_case(tags=["db", "timeout"])
    assert case.remove_tag("absent", T0) == {}
    changes = case.remove_tag("  DB ", T0)
    assert changes["tags"].new == ["timeout"]
    assert case.version == 2
    with pytest.raises(InvalidInput):
        case.remove_tag("  ", T0)


def test_the_audit_details_of_a_tag_change_name_what_was_added_and_removed() -> None:
    case = new_case(tags=["db", "old"])
    case.update({"tags": ["db", "new"], "title": "Disk really full"}, T0)
    event = case.events[-1]
    assert isinstance(event, CaseUpdated)
    details = event.audit_details()
    assert details["changes"]["tags"] == {"old": ["db", "old"], "new": ["db", "new"], "added": ["new"], "removed": ["old"]}
    assert details["changes"]["title"] == {"old": "Disk full", "new": "Disk really full"}
    # The published payload keeps the plain old/new shape.
    assert event.payload()["changes"]["tags"] == {"old": ["db", "old"], "new": ["db", "new"]}
