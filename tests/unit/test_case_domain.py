"""The Case aggregate and its status machine, with no database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from case_service.domain.case import (
    MAX_TAGS,
    TRANSITIONS,
    Case,
    CaseStatus,
    generated_title,
    normalize_tags,
)
from case_service.domain.errors import InvalidInput, InvalidTransition
from case_service.domain.events import CaseCreated, CaseDeleted, CaseStatusChanged, CaseUpdated

T0 = datetime(2026, 3, 7, 9, 30, tzinfo=UTC)


def new_case(**fields: object) -> Case:
    values: dict[str, object] = {"case_id": "case_0123456789ab", "user_id": "alice", "title": "Disk full", "now": T0}
    values.update(fields)
    return Case.open(**values)  # type: ignore[arg-type]


def case_in(status: CaseStatus) -> Case:
    """A case brought to `status` through allowed moves only."""
    path = {
        CaseStatus.ACTIVE: [],
        CaseStatus.INVESTIGATING: [CaseStatus.INVESTIGATING],
        CaseStatus.RESOLVED: [CaseStatus.INVESTIGATING, CaseStatus.RESOLVED],
        CaseStatus.CLOSED: [CaseStatus.CLOSED],
        CaseStatus.ARCHIVED: [CaseStatus.CLOSED, CaseStatus.ARCHIVED],
    }[status]
    case = new_case()
    for step in path:
        case.change_status(step, None, T0)
    return case


def test_a_new_case_is_active_at_version_one_and_records_its_creation() -> None:
    case = new_case(tags=[" Net", "DB", "db"], severity="high")
    assert case.status is CaseStatus.ACTIVE
    assert case.version == 1
    assert case.tags == ["db", "net"]
    assert [type(e) for e in case.events] == [CaseCreated]
    assert case.events[0].payload()["title"] == "Disk full"


@pytest.mark.parametrize("title", ["", "   ", "x" * 201])
def test_a_title_must_be_1_to_200_visible_characters(title: str) -> None:
    with pytest.raises(InvalidInput) as error:
        new_case(title=title)
    assert error.value.field == "title"


def test_titles_are_trimmed() -> None:
    assert new_case(title="  Disk full \n").title == "Disk full"


def test_tags_are_trimmed_lowercased_deduplicated_and_bounded() -> None:
    assert normalize_tags(["  Timeout", "timeout", "DNS"]) == ["dns", "timeout"]
    with pytest.raises(InvalidInput):
        normalize_tags(["ok", "  "])
    with pytest.raises(InvalidInput):
        normalize_tags([f"t{i}" for i in range(MAX_TAGS + 1)])
    with pytest.raises(InvalidInput):
        normalize_tags("not-a-list")


def test_unknown_severity_is_refused_with_the_allowed_values() -> None:
    with pytest.raises(InvalidInput) as error:
        new_case(severity="urgent")
    assert "low, medium, high, critical" in error.value.message


def test_generated_titles_use_the_utc_month_and_day() -> None:
    assert generated_title(T0, 4) == "Case-0307-4"


@pytest.mark.parametrize(
    ("source", "target"),
    [(s, t) for s in CaseStatus for t in CaseStatus if t in TRANSITIONS[s]],
)
def test_every_move_in_the_table_is_accepted(source: CaseStatus, target: CaseStatus) -> None:
    case = case_in(source)
    version = case.version
    transition = case.change_status(target, "because", T0 + timedelta(minutes=1))
    assert (transition.from_status, transition.to_status) == (source, target)
    assert case.status is target
    assert case.version == version + 1
    assert isinstance(case.events[-1], CaseStatusChanged)


@pytest.mark.parametrize(
    ("source", "target"),
    [(s, t) for s in CaseStatus for t in CaseStatus if t not in TRANSITIONS[s]],
)
def test_every_move_outside_the_table_is_refused_and_changes_nothing(source: CaseStatus, target: CaseStatus) -> None:
    case = case_in(source)
    before = (case.status, case.version, case.updated_at, case.resolved_at, len(case.events))
    with pytest.raises(InvalidTransition) as error:
        case.change_status(target, None, T0 + timedelta(hours=1))
    assert error.value.details["current_status"] == source.value
    assert error.value.details["allowed_statuses"] == [s.value for s in TRANSITIONS[source]]
    assert (case.status, case.version, case.updated_at, case.resolved_at, len(case.events)) == before


def test_the_required_moves_are_in_the_table() -> None:
    required = {
        ("active", "investigating"), ("active", "closed"), ("investigating", "resolved"),
        ("investigating", "closed"), ("resolved", "investigating"), ("resolved", "closed"),
        ("resolved", "archived"), ("closed", "archived"),
    }  # fmt: skip
    table = {(s.value, t.value) for s, targets in TRANSITIONS.items() for t in targets}
    assert required <= table
    assert ("active", "resolved") not in table
    assert TRANSITIONS[CaseStatus.ARCHIVED] == ()


def test_resolving_sets_resolved_at_and_reopening_clears_it() -> None:
    case = case_in(CaseStatus.INVESTIGATING)
    resolved_at = T0 + timedelta(hours=2)
    case.change_status("resolved", "patched", resolved_at)
    assert case.resolved_at == resolved_at
    case.change_status("investigating", "came back", resolved_at + timedelta(hours=1))
    assert case.resolved_at is None


def test_update_applies_only_given_fields_and_reports_what_changed() -> None:
    case = new_case(description="old")
    changes = case.update({"description": "new", "severity": "medium"}, T0 + timedelta(seconds=5))
    assert set(changes) == {"description"}  # severity was already medium
    assert (changes["description"].old, changes["description"].new) == ("old", "new")
    assert case.version == 2
    assert case.title == "Disk full"
    assert isinstance(case.events[-1], CaseUpdated)


def test_an_update_that_changes_nothing_keeps_the_version_and_records_nothing() -> None:
    case = new_case(tags=["a"])
    assert case.update({"title": "Disk full", "tags": ["A"]}, T0 + timedelta(seconds=5)) == {}
    assert case.version == 1
    assert case.updated_at == T0
    assert len(case.events) == 1


def test_update_refuses_null_except_to_unlink_the_session() -> None:
    case = new_case(session_id="s1")
    with pytest.raises(InvalidInput):
        case.update({"title": None}, T0)
    case.update({"session_id": None}, T0)
    assert case.session_id is None


def test_status_cannot_be_changed_through_update() -> None:
    with pytest.raises(InvalidInput):
        new_case().update({"status": "closed"}, T0)


def test_deleting_records_the_event_at_the_next_version() -> None:
    case = new_case()
    case.delete(T0)
    assert isinstance(case.events[-1], CaseDeleted)
    assert case.events[-1].version == 2
