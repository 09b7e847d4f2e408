"""Platform events the case service consumes: their envelope, their payloads, and the rules they drive.

Plain Python, no I/O. Parsing refuses what can never be applied (`MalformedEvent`, including an
unknown major `schema_version`): such an event is not retried, it goes straight to the dead letters
(or, over HTTP, back to the caller as 422).
"""

from __future__ import annotations

import json
import math
import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from case_service.domain.case import CaseStatus, allowed_targets, check_text
from case_service.domain.errors import InvalidInput
from case_service.domain.evidence import (
    CONTENT_TYPE_MAX_LENGTH,
    EVIDENCE_ID_MAX_LENGTH,
    FILE_NAME_MAX_LENGTH,
    UPLOADER_MAX_LENGTH,
    Evidence,
)

USER_DELETED = "auth.user.deleted"
EVIDENCE_UPLOADED = "evidence.uploaded"
HYPOTHESIS_VALIDATED = "hypothesis.validated"
HANDLED_EVENT_TYPES = (USER_DELETED, EVIDENCE_UPLOADED, HYPOTHESIS_VALIDATED)

# Any 1.x schema is understood: minor versions only add optional fields, which are ignored.
SUPPORTED_SCHEMA_MAJOR = 1
MAX_EVENT_BYTES = 1_048_576
_SCHEMA_VERSION = re.compile(r"^(\d+)\.\d+(\.\d+)?$")
_CHANNEL_SUFFIX = re.compile(r"\.v\d+$")
_TEXT_MAX = 128


class MalformedEvent(InvalidInput):
    """The event cannot be applied whatever we retry: bad JSON, a missing or invalid field."""

    code = "malformed_event"

    def __init__(self, field: str, message: str, *, event_id: str | None = None, event_type: str | None = None):
        super().__init__(field, message)
        self.reason = f"{field}: {message}"
        self.event_id = event_id
        self.event_type = event_type


class UnsupportedSchemaVersion(MalformedEvent):
    code = "unsupported_schema_version"


@dataclass(frozen=True)
class IncomingEvent:
    """A platform event as received: the envelope of seed 001 §5.2/§5.4 around a payload."""

    event_id: str
    event_type: str  # without its channel version: `auth.user.deleted`, not `auth.user.deleted.v1`
    schema_version: str
    timestamp: datetime
    correlation_id: str | None
    producer: str | None
    payload: dict[str, Any]


def parse_event(body: bytes) -> IncomingEvent:
    """The envelope in `body`, checked; raises MalformedEvent naming the first field at fault."""
    if len(body) > MAX_EVENT_BYTES:
        raise MalformedEvent("body", f"is larger than {MAX_EVENT_BYTES} bytes")
    try:
        data = json.loads(body, parse_constant=_refuse_constant)
    except (ValueError, UnicodeDecodeError) as exc:
        raise MalformedEvent("body", f"is not JSON ({exc})") from None
    if not isinstance(data, dict):
        raise MalformedEvent("body", "must be a JSON object (the event envelope)")
    raw_id, raw_type = data.get("event_id"), data.get("event_type")
    known = {
        "event_id": raw_id if isinstance(raw_id, str) else None,
        "event_type": raw_type if isinstance(raw_type, str) else None,
    }
    event_id = _event_id(raw_id, known)
    known["event_id"] = event_id
    event_type = _text(data, "event_type", known, required=True, max_length=100)
    assert event_type is not None
    known["event_type"] = event_type
    version = _text(data, "schema_version", known, required=True, max_length=32)
    assert version is not None
    match = _SCHEMA_VERSION.match(version)
    if match is None or int(match.group(1)) != SUPPORTED_SCHEMA_MAJOR:
        raise UnsupportedSchemaVersion(
            "schema_version", f"{version!r} is not understood (any {SUPPORTED_SCHEMA_MAJOR}.x is)", **known
        )
    payload = data.get("payload")
    if not isinstance(payload, dict):
        raise MalformedEvent("payload", "must be a JSON object", **known)
    return IncomingEvent(
        event_id=event_id,
        event_type=_CHANNEL_SUFFIX.sub("", event_type),
        schema_version=version,
        timestamp=_timestamp(data.get("timestamp"), "timestamp", known, required=True) or datetime.now(UTC),
        correlation_id=_text(data, "correlation_id", known, required=False),
        producer=_text(data, "producer", known, required=False),
        payload=payload,
    )


@dataclass(frozen=True)
class UserDeleted:
    user_id: str


@dataclass(frozen=True)
class HypothesisValidated:
    case_id: str
    hypothesis_id: str
    confidence: float


def user_deleted(event: IncomingEvent) -> UserDeleted:
    user_id = _payload_text(event, "user_id", required=True)
    assert user_id is not None
    return UserDeleted(user_id=user_id)


def evidence_uploaded(event: IncomingEvent) -> Evidence:
    """The evidence reference. `uploaded_at` defaults to the event's time, `uploaded_by` to `user_id`."""
    known = _known(event)
    payload = event.payload
    size = payload.get("size_bytes")
    if size is not None and (isinstance(size, bool) or not isinstance(size, int) or size < 0):
        raise MalformedEvent("payload.size_bytes", "must be a whole number of bytes, 0 or more", **known)
    uploaded_by = _payload_text(event, "uploaded_by", required=False, max_length=UPLOADER_MAX_LENGTH)
    return Evidence(
        evidence_id=_payload_text(event, "evidence_id", required=True, max_length=EVIDENCE_ID_MAX_LENGTH) or "",
        case_id=_payload_text(event, "case_id", required=True) or "",
        file_name=_payload_text(event, "file_name", required=True, max_length=FILE_NAME_MAX_LENGTH) or "",
        uploaded_at=_timestamp(payload.get("uploaded_at"), "payload.uploaded_at", known, required=False)
        or event.timestamp,
        uploaded_by=uploaded_by or _payload_text(event, "user_id", required=False, max_length=UPLOADER_MAX_LENGTH),
        content_type=_payload_text(event, "content_type", required=False, max_length=CONTENT_TYPE_MAX_LENGTH),
        size_bytes=size,
    )


def hypothesis_validated(event: IncomingEvent) -> HypothesisValidated:
    confidence = event.payload.get("confidence")
    if (
        isinstance(confidence, bool)
        or not isinstance(confidence, (int, float))
        or not math.isfinite(confidence)
        or not 0 <= confidence <= 1
    ):
        raise MalformedEvent("payload.confidence", "must be a number from 0 to 1", **_known(event))
    return HypothesisValidated(
        case_id=_payload_text(event, "case_id", required=True) or "",
        hypothesis_id=_payload_text(event, "hypothesis_id", required=True, max_length=64) or "",
        confidence=float(confidence),
    )


@dataclass(frozen=True)
class HypothesisDecision:
    """What a validated hypothesis does to a case: a move to `target`, or nothing, with the reason."""

    target: CaseStatus | None
    reason: str


# The rule. A hypothesis validated with at least the threshold confidence advances the case one
# step along the investigation: an `active` case is now being investigated, an `investigating`
# case has its root cause confirmed and is `resolved`. Any other status (resolved, closed,
# archived) is a decision a human made; an automated signal never overrides it.
HYPOTHESIS_MOVES = {CaseStatus.ACTIVE: CaseStatus.INVESTIGATING, CaseStatus.INVESTIGATING: CaseStatus.RESOLVED}


def hypothesis_decision(status: CaseStatus, hypothesis: HypothesisValidated, threshold: float) -> HypothesisDecision:
    if hypothesis.confidence < threshold:
        return HypothesisDecision(
            None, f"confidence {hypothesis.confidence:g} is below the threshold {threshold:g}: no move"
        )
    target = HYPOTHESIS_MOVES.get(status)
    if target is None or target not in allowed_targets(status):
        return HypothesisDecision(
            None, f"a {status.value} case is not moved by a validated hypothesis (only active and investigating are)"
        )
    return HypothesisDecision(
        target, f"hypothesis {hypothesis.hypothesis_id} validated with confidence {hypothesis.confidence:g}"
    )


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _known(event: IncomingEvent) -> dict[str, str | None]:
    return {"event_id": event.event_id, "event_type": event.event_type}


def _event_id(value: object, known: dict[str, str | None]) -> str:
    if not isinstance(value, str) or not value.strip():
        raise MalformedEvent("event_id", "is required (a UUID)", **known)
    try:
        return str(uuid.UUID(value.strip()))
    except ValueError:
        raise MalformedEvent("event_id", "must be a UUID", **known) from None


def _text(
    data: dict[str, Any], name: str, known: dict[str, str | None], *, required: bool, max_length: int = _TEXT_MAX
) -> str | None:
    value = data.get(name)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value.strip():
        raise MalformedEvent(name, "is required (a non-blank string)" if required else "must be a string", **known)
    try:
        text = check_text(name, value, single_line=True).strip()
    except InvalidInput as exc:
        raise MalformedEvent(name, exc.details["errors"][0]["message"], **known) from None
    if len(text) > max_length:
        raise MalformedEvent(name, f"must be at most {max_length} characters", **known)
    return text


def _payload_text(event: IncomingEvent, name: str, *, required: bool, max_length: int = _TEXT_MAX) -> str | None:
    try:
        return _text(event.payload, name, _known(event), required=required, max_length=max_length)
    except MalformedEvent as exc:
        message = exc.details["errors"][0]["message"]
        raise MalformedEvent(f"payload.{name}", message, **_known(event)) from None


def _timestamp(value: object, name: str, known: dict[str, str | None], *, required: bool) -> datetime | None:
    if value is None and not required:
        return None
    if not isinstance(value, str):
        raise MalformedEvent(name, "must be an ISO 8601 date-time", **known)
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise MalformedEvent(name, "must be an ISO 8601 date-time", **known) from None
    # A time without an offset is taken as UTC, the platform's clock.
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
