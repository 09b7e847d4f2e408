"""W3C trace context: which traceparent and tracestate are accepted, and what the next hop receives."""

from __future__ import annotations

import pytest

from case_service.observability.tracing import parse_traceparent, parse_tracestate, start_span

VALID = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


def test_a_valid_traceparent_is_continued_with_a_new_span() -> None:
    span = start_span(VALID)
    assert span.trace_id == "4bf92f3577b34da6a3ce929d0e0e4736"
    assert span.parent_span_id == "00f067aa0ba902b7"
    assert span.span_id != "00f067aa0ba902b7" and len(span.span_id) == 16
    assert span.traceparent == f"00-4bf92f3577b34da6a3ce929d0e0e4736-{span.span_id}-01"
    assert parse_traceparent(span.traceparent) is not None


def test_the_sampled_flag_of_the_caller_is_kept() -> None:
    span = start_span(VALID[:-2] + "00")
    assert span.traceparent.endswith("-00")


def test_a_later_version_with_extra_fields_is_understood() -> None:
    assert parse_traceparent("cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-what-the-future-holds")


@pytest.mark.parametrize(
    "value",
    [
        "",
        "garbage",
        "00-4BF92F3577B34DA6A3CE929D0E0E4736-00F067AA0BA902B7-01",  # uppercase hex
        "00-00000000000000000000000000000000-00f067aa0ba902b7-01",  # all-zero trace id
        "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",  # all-zero parent id
        "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",  # forbidden version
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",  # version 00 has 4 fields
        "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",  # short trace id
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-1",  # short flags
    ],
)
def test_an_invalid_traceparent_is_ignored_and_a_new_trace_starts(value: str) -> None:
    assert parse_traceparent(value) is None
    span = start_span(value)
    assert span.parent_span_id is None
    assert span.trace_id != "4bf92f3577b34da6a3ce929d0e0e4736"
    assert parse_traceparent(span.traceparent) is not None


def test_each_new_trace_has_its_own_id() -> None:
    assert start_span(None).trace_id != start_span(None).trace_id


def test_the_callers_tracestate_is_passed_on_as_one_list() -> None:
    span = start_span(VALID, ["rojo=00f067aa0ba902b7", " congo=t61rcWkgMzE, tenant@vendor=x:1/2 "])
    assert span.tracestate == "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE,tenant@vendor=x:1/2"


def test_a_tracestate_without_a_valid_traceparent_is_dropped() -> None:
    assert start_span(None, ["rojo=00f067aa0ba902b7"]).tracestate is None
    assert start_span("garbage", ["rojo=00f067aa0ba902b7"]).tracestate is None
    assert start_span(VALID).tracestate is None


@pytest.mark.parametrize(
    "value",
    [
        "Rojo=1",  # uppercase key
        "rojo",  # no value
        "rojo=",  # empty value
        "rojo=a\tb",  # a tab in the value
        "rojo=a=b",  # '=' in the value
        "rojo=1,rojo=2",  # a key twice
        ",".join(f"k{n}=v" for n in range(33)),  # more than 32 members
        "rojo=caf\u00e9",  # not ASCII
    ],
)
def test_a_tracestate_that_breaks_the_rules_is_dropped_whole(value: str) -> None:
    assert parse_tracestate([value]) is None
    assert start_span(VALID, [value]).tracestate is None


def test_a_long_tracestate_loses_members_from_the_end() -> None:
    members = [f"k{n}={'v' * 100}" for n in range(8)]  # 8 members of 104 characters
    kept = parse_tracestate([",".join(members)])
    assert kept == ",".join(members[:4])  # 4 * 104 + 3 commas = 419; a fifth would pass 512
