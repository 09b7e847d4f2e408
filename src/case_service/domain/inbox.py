"""What the inbox remembers about consumed events, and what the dead letters hold."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum


class Outcome(StrEnum):
    # Only while a batched effect is under way (a user's deletion); a redelivery resumes it.
    PENDING = "pending"
    APPLIED = "applied"
    # Understood and deliberately not applied (the reason says why).
    IGNORED = "ignored"
    # The event names a case this service does not hold (never created, or deleted since).
    UNKNOWN_CASE = "unknown_case"
    # Not stored: what a delivery of an already-completed event reports.
    DUPLICATE = "duplicate"


@dataclass(frozen=True)
class InboxEntry:
    consumer: str
    event_id: str
    event_type: str
    outcome: Outcome
    reason: str | None
    affected: int


@dataclass(frozen=True)
class DeadLetter:
    dead_letter_id: int
    consumer: str
    event_id: str | None
    event_type: str | None
    source: str
    body: bytes
    error: str
    attempts: int
    first_failed_at: datetime
    last_failed_at: datetime
    replayed_at: datetime | None
    replay_outcome: str | None


@dataclass(frozen=True)
class DeadLetterPage:
    dead_letters: list[DeadLetter] = field(default_factory=list)
    total: int = 0
