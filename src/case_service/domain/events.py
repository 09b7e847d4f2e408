"""Domain events: what happened to a case, recorded by the aggregate, published through the outbox."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar


@dataclass(frozen=True)
class FieldChange:
    old: Any
    new: Any


@dataclass(frozen=True)
class DomainEvent:
    """Base of every case event. `version` is the case's version after the change."""

    event_type: ClassVar[str]

    case_id: str
    user_id: str
    version: int
    occurred_at: datetime

    def payload(self) -> dict[str, Any]:
        return {"case_id": self.case_id, "user_id": self.user_id}

    def audit_details(self) -> dict[str, Any]:
        """What the case's history records about this event: the payload without the ids."""
        return {name: value for name, value in self.payload().items() if name not in ("case_id", "user_id")}


@dataclass(frozen=True)
class CaseCreated(DomainEvent):
    event_type: ClassVar[str] = "case.created"
    case: dict[str, Any]

    def payload(self) -> dict[str, Any]:
        return dict(self.case)


@dataclass(frozen=True)
class CaseUpdated(DomainEvent):
    event_type: ClassVar[str] = "case.updated"
    changes: dict[str, FieldChange]

    def payload(self) -> dict[str, Any]:
        return {
            **super().payload(),
            "changes": {name: {"old": change.old, "new": change.new} for name, change in self.changes.items()},
        }

    def audit_details(self) -> dict[str, Any]:
        """The changes, and for tags also which were added and which removed (what an auditor asks)."""
        details = super().audit_details()
        tags = self.changes.get("tags")
        if tags is not None:
            old, new = list(tags.old or []), list(tags.new or [])
            details["changes"]["tags"].update(
                added=[tag for tag in new if tag not in old], removed=[tag for tag in old if tag not in new]
            )
        return details


@dataclass(frozen=True)
class CaseStatusChanged(DomainEvent):
    event_type: ClassVar[str] = "case.status_changed"
    from_status: str
    to_status: str
    reason: str | None

    def payload(self) -> dict[str, Any]:
        return {
            **super().payload(),
            "from_status": self.from_status,
            "to_status": self.to_status,
            "reason": self.reason,
        }


@dataclass(frozen=True)
class CaseDeleted(DomainEvent):
    event_type: ClassVar[str] = "case.deleted"
    reason: str

    def payload(self) -> dict[str, Any]:
        return {**super().payload(), "reason": self.reason}


@dataclass(frozen=True)
class CaseMessageAdded(DomainEvent):
    """A message joined the conversation.

    The event carries a reference to the message, not its content: content runs up to 50,000
    characters of conversation (logs, stack traces, secrets pasted by mistake). Broadcasting it
    would copy it into every consumer and every broker retention window, beyond the reach of a
    case deletion. Consumers that need the text read it, authorized, through
    `GET /api/v1/cases/{case_id}/messages?after={sequence - 1}&limit=1`.
    """

    event_type: ClassVar[str] = "case.message.added"
    message_id: str
    sequence: int
    role: str
    content_length: int
    message_count: int

    def payload(self) -> dict[str, Any]:
        return {
            **super().payload(),
            "message_id": self.message_id,
            "sequence": self.sequence,
            "role": self.role,
            "content_length": self.content_length,
            "message_count": self.message_count,
            "created_at": self.occurred_at.isoformat(),
        }


@dataclass(frozen=True)
class CaseEvidenceAdded(DomainEvent):
    """Evidence uploaded to the Evidence Service was linked to the case (by reference: no content)."""

    event_type: ClassVar[str] = "case.evidence.added"
    evidence_id: str
    file_name: str
    uploaded_at: datetime
    uploaded_by: str | None

    def payload(self) -> dict[str, Any]:
        return {
            **super().payload(),
            "evidence_id": self.evidence_id,
            "file_name": self.file_name,
            "uploaded_at": self.uploaded_at.isoformat(),
            "uploaded_by": self.uploaded_by,
        }
