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
