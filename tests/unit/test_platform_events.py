"""The platform-event rules, without a database: envelope parsing and the hypothesis rule."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from case_service.domain.case import CaseStatus
from case_service.domain.platform_events import (
    HypothesisValidated,
    MalformedEvent,
    UnsupportedSchemaVersion,
    evidence_uploaded,
    hypothesis_decision,
    parse_event,
)

EVENT_ID = "0b6f5c8e-2f0c-4c3e-9a55-3f1f0b7d9e21"


def body(**fields: object) -> bytes:
    envelope = {
        "event_id": EVENT_ID,
        "event_type": "evidence.uploaded.v1",
        "schema_version": "1.0.0",
        "timestamp": "2026-11-15T12:40:00Z",
        "payload": {"evidence_id": "ev_1", "case_id": "case_0123456789ab", "file_name": " app.log "},
    }
    envelope.update(fields)
    return json.dumps(envelope).encode()


def test_the_envelope_is_read_with_its_channel_version_dropped_and_defaults_filled() -> None:
    event = parse_event(body(event_id=EVENT_ID.upper()))
    assert (event.event_id, event.event_type) == (EVENT_ID, "evidence.uploaded")
    assert event.timestamp == datetime(2026, 11, 15, 12, 40, tzinfo=UTC)
    evidence = evidence_uploaded(event)
    # No uploaded_at: the event's time; the file name is trimmed.
    assert (evidence.file_name, evidence.uploaded_at, evidence.uploaded_by) == ("app.log", event.timestamp, None)


@pytest.mark.parametrize("version", ["1.0.0", "1.9", "1.12.3"])
def test_every_1x_schema_version_is_understood(version: str) -> None:
    assert parse_event(body(schema_version=version)).schema_version == version


@pytest.mark.parametrize("version", ["2.0.0", "0.9", "1", "v1.0", "1.0.0-beta"])
def test_other_schema_versions_are_refused_naming_the_event(version: str) -> None:
    with pytest.raises(UnsupportedSchemaVersion) as refused:
        parse_event(body(schema_version=version))
    assert (refused.value.event_id, refused.value.event_type) == (EVENT_ID, "evidence.uploaded.v1")


def test_a_refused_event_still_names_what_could_be_read() -> None:
    with pytest.raises(MalformedEvent) as refused:
        parse_event(body(payload="nope"))
    assert refused.value.reason == "payload: must be a JSON object"
    assert refused.value.event_id == EVENT_ID


def hypothesis(confidence: float) -> HypothesisValidated:
    return HypothesisValidated(case_id="case_0123456789ab", hypothesis_id="hyp_9", confidence=confidence)


@pytest.mark.parametrize(
    ("status", "confidence", "target"),
    [
        (CaseStatus.ACTIVE, 0.8, CaseStatus.INVESTIGATING),
        (CaseStatus.INVESTIGATING, 0.99, CaseStatus.RESOLVED),
        (CaseStatus.INVESTIGATING, 0.79, None),
        (CaseStatus.RESOLVED, 1.0, None),
        (CaseStatus.CLOSED, 1.0, None),
        (CaseStatus.ARCHIVED, 1.0, None),
    ],
)
def test_the_hypothesis_rule(status: CaseStatus, confidence: float, target: CaseStatus | None) -> None:
    decision = hypothesis_decision(status, hypothesis(confidence), threshold=0.8)
    assert decision.target is target
    assert decision.reason
