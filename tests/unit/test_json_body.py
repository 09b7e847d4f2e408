"""A list page is written by orjson from the cases' fields, not by its pydantic models: the bytes
must be the models' own, whatever the cases hold."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone

from hypothesis import given, settings
from hypothesis import strategies as st

from case_service.api.json_body import dump_json
from case_service.api.schemas import CaseList, CaseRead, case_fields
from case_service.domain.case import Case, CaseStatus, Category, Severity

# Text a stored case can hold: anything but NUL and lone surrogates (the domain refuses both).
TEXT = st.text(st.characters(exclude_categories=("Cs",), exclude_characters="\x00"), max_size=40)
INSTANTS = st.datetimes(
    min_value=datetime(1970, 1, 1), max_value=datetime(2200, 1, 1), timezones=st.just(UTC)
) | st.datetimes(timezones=st.sampled_from([UTC, timezone(timedelta(hours=5, minutes=30))]))
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)  # past 64 bits too
    | st.floats(allow_nan=False, allow_infinity=False)
    | TEXT
)
METADATA = st.dictionaries(
    TEXT, st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(TEXT, inner, max_size=3)),
    max_size=4,
)


@st.composite
def cases(draw: st.DrawFn) -> Case:
    created = draw(INSTANTS)
    return Case(
        case_id=f"case_{draw(st.text('0123456789abcdef', min_size=12, max_size=12))}",
        user_id=draw(TEXT),
        title=draw(TEXT),
        description=draw(TEXT),
        status=draw(st.sampled_from(CaseStatus)),
        severity=draw(st.sampled_from(Severity)),
        category=draw(st.sampled_from(Category)),
        metadata=draw(METADATA),
        tags=draw(st.lists(TEXT, max_size=3)),
        session_id=draw(st.none() | TEXT),
        created_at=created,
        updated_at=draw(INSTANTS),
        resolved_at=draw(st.none() | INSTANTS),
        version=draw(st.integers(min_value=1, max_value=2**31)),
        message_count=draw(st.integers(min_value=0, max_value=10_000)),
        last_activity_at=draw(st.none() | INSTANTS),
    )


@settings(max_examples=300, deadline=None)
@given(case=cases())
def test_a_case_is_written_as_its_model_writes_it(case: Case) -> None:
    assert dump_json(case_fields(case)) == CaseRead.from_domain(case).model_dump_json().encode()


@settings(max_examples=100, deadline=None)
@given(
    page=st.lists(cases(), max_size=4),
    total=st.none() | st.integers(min_value=0, max_value=10**6),
    cursor=st.none() | TEXT,
)
def test_a_page_is_written_as_the_list_model_writes_it(page: list[Case], total: int | None, cursor: str | None) -> None:
    body = {
        "cases": [case_fields(case) for case in page],
        "total": total,
        "total_included": total is not None,
        "limit": 50,
        "offset": 0,
        "next_cursor": cursor,
    }
    assert dump_json(body) == CaseList.model_validate(body).model_dump_json().encode()


def test_an_integer_past_64_bits_is_written_whole() -> None:
    """orjson refuses such an integer; the body falls back to pydantic's writer, not to an error."""
    body = {"metadata": {"big": 2**64, "small": -(2**63) - 1}, "at": datetime(2026, 1, 2, 3, 4, 5, 6, tzinfo=UTC)}
    written = dump_json(body)
    assert json.loads(written) == {"metadata": {"big": 2**64, "small": -(2**63) - 1}, "at": "2026-01-02T03:04:05.000006Z"}
