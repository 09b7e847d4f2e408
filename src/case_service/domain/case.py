"""The Case aggregate, its value types and its status machine."""

from __future__ import annotations

import json
import math
import re
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from case_service.domain.errors import InvalidInput, InvalidTransition
from case_service.domain.events import (
    CaseCreated,
    CaseDeleted,
    CaseEvidenceAdded,
    CaseMessageAdded,
    CaseStatusChanged,
    CaseUpdated,
    DomainEvent,
    FieldChange,
)
from case_service.domain.evidence import Evidence
from case_service.domain.messages import MESSAGE_CONTENT_MAX_LENGTH, Message, MessageRole

TITLE_MAX_LENGTH = 200
DESCRIPTION_MAX_LENGTH = 5_000
SESSION_ID_MAX_LENGTH = 128
TAG_MAX_LENGTH = 50
MAX_TAGS = 20
REASON_MAX_LENGTH = 1_000
CASE_ID_PREFIX = "case_"
CASE_ID_PATTERN = r"^case_[0-9a-f]{12}$"
_CASE_ID = re.compile(CASE_ID_PATTERN)


class CaseStatus(StrEnum):
    ACTIVE = "active"
    INVESTIGATING = "investigating"
    RESOLVED = "resolved"
    CLOSED = "closed"
    ARCHIVED = "archived"


class Severity(StrEnum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"

    @property
    def rank(self) -> int:
        return list(Severity).index(self)


class Category(StrEnum):
    PERFORMANCE = "performance"
    ERROR = "error"
    CONFIGURATION = "configuration"
    INFRASTRUCTURE = "infrastructure"
    SECURITY = "security"
    OTHER = "other"


# The status machine. A case is resolved only through investigation; archived is terminal.
# Beyond the required moves, a closed case can be reopened (closed -> active): closing by
# mistake is common and re-creating the case would lose its history.
TRANSITIONS: Mapping[CaseStatus, tuple[CaseStatus, ...]] = {
    CaseStatus.ACTIVE: (CaseStatus.INVESTIGATING, CaseStatus.CLOSED),
    CaseStatus.INVESTIGATING: (CaseStatus.RESOLVED, CaseStatus.CLOSED),
    CaseStatus.RESOLVED: (CaseStatus.INVESTIGATING, CaseStatus.CLOSED, CaseStatus.ARCHIVED),
    CaseStatus.CLOSED: (CaseStatus.ACTIVE, CaseStatus.ARCHIVED),
    CaseStatus.ARCHIVED: (),
}

# The fields a caller may change through an update; status moves only through change_status.
UPDATABLE_FIELDS = ("title", "description", "severity", "category", "tags", "metadata", "session_id")


def allowed_targets(status: CaseStatus) -> tuple[CaseStatus, ...]:
    return TRANSITIONS[status]


def new_case_id() -> str:
    return CASE_ID_PREFIX + secrets.token_hex(6)


def generated_title(created_at: datetime, number: int) -> str:
    """`Case-MMDD-N`, where N counts the cases the user created that UTC day."""
    return f"Case-{created_at:%m%d}-{number}"


_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
METADATA_MAX_DEPTH = 32
# Metadata is for labels and references, not documents; 64 KiB of compact JSON (UTF-8) is plenty.
METADATA_MAX_BYTES = 65_536


def check_text(field_name: str, value: str, *, single_line: bool = False) -> str:
    """Refuse characters no store keeps faithfully: NUL everywhere, other control characters in
    one-line values (titles, tags, ids). PostgreSQL rejects NUL outright."""
    if "\x00" in value:
        raise InvalidInput(field_name, "must not contain NUL characters")
    if single_line and _CONTROL.search(value.replace("\t", " ")):
        raise InvalidInput(field_name, "must not contain control characters")
    return value


def is_case_id(value: str) -> bool:
    return _CASE_ID.match(value) is not None


def normalize_title(value: object) -> str:
    if not isinstance(value, str):
        raise InvalidInput("title", "must be a string")
    title = check_text("title", value, single_line=True).strip()
    if not title:
        raise InvalidInput("title", "must not be blank")
    if len(title) > TITLE_MAX_LENGTH:
        raise InvalidInput("title", f"must be at most {TITLE_MAX_LENGTH} characters")
    return title


def normalize_description(value: object) -> str:
    if not isinstance(value, str):
        raise InvalidInput("description", "must be a string")
    check_text("description", value)
    if len(value) > DESCRIPTION_MAX_LENGTH:
        raise InvalidInput("description", f"must be at most {DESCRIPTION_MAX_LENGTH} characters")
    return value


def normalize_session_id(value: object) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidInput("session_id", "must be a string or null")
    session_id = check_text("session_id", value, single_line=True).strip()
    if not session_id:
        raise InvalidInput("session_id", "must not be blank (send null to unlink the session)")
    if len(session_id) > SESSION_ID_MAX_LENGTH:
        raise InvalidInput("session_id", f"must be at most {SESSION_ID_MAX_LENGTH} characters")
    return session_id


def normalize_tag(value: object, field_name: str = "tags") -> str:
    if not isinstance(value, str):
        raise InvalidInput(field_name, "each tag must be a string")
    tag = check_text(field_name, value, single_line=True).strip().lower()
    if not tag:
        raise InvalidInput(field_name, "tags must not be blank")
    if len(tag) > TAG_MAX_LENGTH:
        raise InvalidInput(field_name, f"each tag must be at most {TAG_MAX_LENGTH} characters")
    return tag


def normalize_tags(values: Iterable[object]) -> list[str]:
    """Trimmed, lower-cased, deduplicated and sorted: `["Net", " DB", "db"]` -> `["db", "net"]`.

    Sorted so a case's tags read the same however they were given or stored.
    """
    if isinstance(values, (str, bytes)) or not isinstance(values, Iterable):
        raise InvalidInput("tags", "must be a list of strings")
    tags = sorted({normalize_tag(value) for value in values})
    if len(tags) > MAX_TAGS:
        raise InvalidInput("tags", f"at most {MAX_TAGS} distinct tags are allowed")
    return tags


def normalize_metadata(value: object) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise InvalidInput("metadata", "must be a JSON object")
    _check_json("metadata", value, depth=1)
    size = len(json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode("utf-8", "surrogatepass"))
    if size > METADATA_MAX_BYTES:
        raise InvalidInput("metadata", f"is {size} bytes as JSON; at most {METADATA_MAX_BYTES} are allowed")
    return dict(value)


def normalize_role(value: object) -> MessageRole:
    return _enum(MessageRole, "role", value)


def normalize_content(value: object) -> str:
    """Message content is kept exactly as sent (whitespace matters in logs and code), but never blank."""
    if not isinstance(value, str):
        raise InvalidInput("content", "must be a string")
    check_text("content", value)
    if not value.strip():
        raise InvalidInput("content", "must not be blank")
    if len(value) > MESSAGE_CONTENT_MAX_LENGTH:
        raise InvalidInput("content", f"must be at most {MESSAGE_CONTENT_MAX_LENGTH} characters")
    return value


def _check_json(path: str, value: object, depth: int) -> None:
    """Metadata must be plain JSON both databases store: no NaN or Infinity, no NUL, bounded depth."""
    if depth > METADATA_MAX_DEPTH:
        raise InvalidInput("metadata", f"nests deeper than {METADATA_MAX_DEPTH} levels")
    if isinstance(value, dict):
        for key, item in value.items():
            check_text("metadata", str(key))
            _check_json(f"{path}.{key}", item, depth + 1)
    elif isinstance(value, list):
        for item in value:
            _check_json(path, item, depth + 1)
    elif isinstance(value, str):
        check_text("metadata", value)
    elif isinstance(value, float) and not math.isfinite(value):
        raise InvalidInput("metadata", f"{path} is not a finite number (NaN and Infinity are not JSON)")


def _enum(kind: type[StrEnum], field_name: str, value: object) -> Any:
    try:
        return kind(value)
    except ValueError:
        allowed = ", ".join(member.value for member in kind)
        raise InvalidInput(field_name, f"must be one of: {allowed}") from None


_NORMALIZERS = {
    "title": normalize_title,
    "description": normalize_description,
    "severity": lambda value: _enum(Severity, "severity", value),
    "category": lambda value: _enum(Category, "category", value),
    "tags": normalize_tags,
    "metadata": normalize_metadata,
    "session_id": normalize_session_id,
}


@dataclass
class StatusTransition:
    """One accepted move of the status machine, as recorded in `case_status_transitions`."""

    case_id: str
    from_status: CaseStatus
    to_status: CaseStatus
    reason: str | None
    changed_at: datetime


@dataclass(eq=False)
class Case:
    case_id: str
    user_id: str
    title: str
    description: str
    status: CaseStatus
    severity: Severity
    category: Category
    metadata: dict[str, Any]
    tags: list[str]
    session_id: str | None
    created_at: datetime
    updated_at: datetime
    resolved_at: datetime | None
    version: int
    # How many messages the conversation holds; the next message gets sequence message_count + 1.
    message_count: int = 0
    # The last time anything happened to the case: a change of its fields, status or tags, or a message.
    last_activity_at: datetime | None = None
    events: list[DomainEvent] = field(default_factory=list, repr=False)

    @classmethod
    def open(
        cls,
        *,
        case_id: str,
        user_id: str,
        title: str,
        now: datetime,
        description: str = "",
        severity: Severity | str = Severity.MEDIUM,
        category: Category | str = Category.OTHER,
        metadata: Mapping[str, Any] | None = None,
        tags: Iterable[str] = (),
        session_id: str | None = None,
    ) -> Case:
        case = cls(
            case_id=case_id,
            user_id=user_id,
            title=normalize_title(title),
            description=normalize_description(description),
            status=CaseStatus.ACTIVE,
            severity=_enum(Severity, "severity", severity),
            category=_enum(Category, "category", category),
            metadata=normalize_metadata(dict(metadata or {})),
            tags=normalize_tags(tags),
            session_id=normalize_session_id(session_id),
            created_at=now,
            updated_at=now,
            resolved_at=None,
            version=1,
            message_count=0,
            last_activity_at=now,
        )
        case.events.append(CaseCreated(case.case_id, case.user_id, case.version, now, case.snapshot()))
        return case

    def update(self, changes: Mapping[str, Any], now: datetime) -> dict[str, FieldChange]:
        """Apply the given fields; fields not given stay. Returns what really changed."""
        applied: dict[str, FieldChange] = {}
        for name, raw in changes.items():
            if name not in _NORMALIZERS:
                raise InvalidInput(name, "is not a field that can be updated")
            if raw is None and name != "session_id":
                raise InvalidInput(name, "must not be null (leave the field out to keep its value)")
            new = _NORMALIZERS[name](raw)
            old = getattr(self, name)
            if new != old:
                applied[name] = FieldChange(_plain(old), _plain(new))
                setattr(self, name, new)
        if applied:
            self._touch(now)
            self.events.append(CaseUpdated(self.case_id, self.user_id, self.version, now, applied))
        return applied

    def change_status(self, target: CaseStatus | str, reason: str | None, now: datetime) -> StatusTransition:
        requested = str(target.value if isinstance(target, CaseStatus) else target)
        allowed = allowed_targets(self.status)
        if requested not in {status.value for status in allowed}:
            raise InvalidTransition(self.case_id, self.status.value, requested, [s.value for s in allowed])
        if reason is not None and len(check_text("reason", reason)) > REASON_MAX_LENGTH:
            raise InvalidInput("reason", f"must be at most {REASON_MAX_LENGTH} characters")
        to_status = CaseStatus(requested)
        transition = StatusTransition(self.case_id, self.status, to_status, reason, now)
        self.status = to_status
        if to_status is CaseStatus.RESOLVED:
            self.resolved_at = now
        elif to_status in (CaseStatus.ACTIVE, CaseStatus.INVESTIGATING):
            self.resolved_at = None  # reopened: whatever resolved it no longer holds
        self._touch(now)
        self.events.append(
            CaseStatusChanged(
                self.case_id, self.user_id, self.version, now, transition.from_status.value, to_status.value, reason
            )
        )
        return transition

    def add_tags(self, tags: Iterable[object], now: datetime) -> dict[str, FieldChange]:
        """Add tags (normalized like every tag); tags the case already has are no change at all."""
        if isinstance(tags, (str, bytes)) or not isinstance(tags, Iterable):
            raise InvalidInput("tags", "must be a list of strings")
        return self.update({"tags": [*self.tags, *tags]}, now)

    def remove_tag(self, tag: object, now: datetime) -> dict[str, FieldChange]:
        """Remove one tag, matched after normalization; removing a tag the case lacks changes nothing."""
        removed = normalize_tag(tag, "tag")
        return self.update({"tags": [t for t in self.tags if t != removed]}, now)

    def add_message(
        self, *, message_id: str, role: object, content: object, metadata: object, now: datetime
    ) -> Message:
        """Append a message at the next sequence. A message is a change of the case: version grows.

        `updated_at` stays: it tells when the case's own fields last changed; `last_activity_at`
        tells when anything, a message included, last happened.
        """
        message = Message(
            message_id=message_id,
            case_id=self.case_id,
            sequence=self.message_count + 1,
            role=normalize_role(role),
            content=normalize_content(content),
            metadata=normalize_metadata({} if metadata is None else metadata),
            created_at=now,
        )
        self.message_count = message.sequence
        self.last_activity_at = now
        self.version += 1
        self.events.append(
            CaseMessageAdded(
                self.case_id,
                self.user_id,
                self.version,
                now,
                message_id=message.message_id,
                sequence=message.sequence,
                role=message.role.value,
                content_length=len(message.content),
                message_count=self.message_count,
            )
        )
        return message

    def add_evidence(self, evidence: Evidence, now: datetime) -> None:
        """Link evidence to the case. Like a message it is activity, not a change of the case's own
        fields: version and `last_activity_at` move, `updated_at` stays."""
        self.last_activity_at = now
        self.version += 1
        self.events.append(
            CaseEvidenceAdded(
                self.case_id,
                self.user_id,
                self.version,
                now,
                evidence_id=evidence.evidence_id,
                file_name=evidence.file_name,
                uploaded_at=evidence.uploaded_at,
                uploaded_by=evidence.uploaded_by,
            )
        )

    def delete(self, now: datetime, reason: str = "user_request") -> None:
        self.version += 1
        self.events.append(CaseDeleted(self.case_id, self.user_id, self.version, now, reason))

    def _touch(self, now: datetime) -> None:
        self.version += 1
        self.updated_at = now
        self.last_activity_at = now

    def snapshot(self) -> dict[str, Any]:
        """The case as plain JSON-ready values: what `case.created` carries."""
        return {
            "case_id": self.case_id,
            "user_id": self.user_id,
            "session_id": self.session_id,
            "title": self.title,
            "description": self.description,
            "status": self.status.value,
            "severity": self.severity.value,
            "category": self.category.value,
            "metadata": self.metadata,
            "tags": list(self.tags),
            "created_at": self.created_at.isoformat(),
            "updated_at": self.updated_at.isoformat(),
            "resolved_at": self.resolved_at.isoformat() if self.resolved_at else None,
            "version": self.version,
            "message_count": self.message_count,
            "last_activity_at": self.last_activity_at.isoformat() if self.last_activity_at else None,
        }


def _plain(value: Any) -> Any:
    if isinstance(value, StrEnum):
        return value.value
    if isinstance(value, list):
        return list(value)
    if isinstance(value, dict):
        return dict(value)
    return value
