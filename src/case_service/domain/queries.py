"""Read-side value objects: what a caller asks of the case list, and what comes back."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from case_service.domain.case import Case
from case_service.domain.messages import Message


@dataclass(frozen=True)
class CaseQuery:
    """Filters on one user's cases. Each tuple matches any of its values; empty means no filter."""

    user_id: str
    statuses: tuple[str, ...] = ()
    severities: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    session_ids: tuple[str, ...] = ()
    limit: int = 50
    offset: int = 0


@dataclass(frozen=True)
class CasePage:
    cases: list[Case] = field(default_factory=list)
    total: int = 0


@dataclass(frozen=True)
class MessagePage:
    messages: list[Message] = field(default_factory=list)
    total: int = 0


@dataclass(frozen=True)
class HistoryEntry:
    """One row of a case's audit trail: what happened (`event_type`, `details`), by whom, when."""

    history_id: int
    case_id: str
    version: int
    event_type: str
    details: dict[str, Any]
    actor_id: str
    actor_email: str | None
    correlation_id: str | None
    occurred_at: datetime


@dataclass(frozen=True)
class HistoryPage:
    entries: list[HistoryEntry] = field(default_factory=list)
    total: int = 0


@dataclass(frozen=True)
class TagCount:
    tag: str
    count: int


@dataclass(frozen=True)
class RecordedTransition:
    from_status: str
    to_status: str
    reason: str | None
    actor_id: str
    actor_email: str | None
    changed_at: datetime


@dataclass(frozen=True)
class ContextBounds:
    max_messages: int
    max_chars: int


@dataclass(frozen=True)
class CaseContext:
    """What an agent reads to reason about a case, bounded: the newest messages that fit."""

    case: Case
    status_history: list[RecordedTransition]
    messages: list[Message]
    bounds: ContextBounds

    @property
    def messages_omitted(self) -> int:
        return self.case.message_count - len(self.messages)


# Bounds of the agent's context: defaults when a caller gives none, and the largest accepted.
# The default max_chars fits one message of the largest size, so the newest message always fits.
CONTEXT_DEFAULT_MAX_MESSAGES = 50
CONTEXT_MAX_MESSAGES_LIMIT = 500
CONTEXT_DEFAULT_MAX_CHARS = 50_000
CONTEXT_MAX_CHARS_LIMIT = 1_000_000
