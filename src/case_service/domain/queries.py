"""Read-side value objects: what a caller asks of the case list, and what comes back."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from enum import StrEnum
from typing import Any

from case_service.domain.case import Case, CaseStatus, Severity
from case_service.domain.errors import InvalidInput
from case_service.domain.evidence import Evidence
from case_service.domain.messages import Message
from case_service.domain.search import SearchQuery


class SortField(StrEnum):
    """What a case list can be ordered by. Severity and status order by rank, not by name."""

    CREATED_AT = "created_at"
    UPDATED_AT = "updated_at"
    SEVERITY = "severity"
    STATUS = "status"
    TITLE = "title"
    RELEVANCE = "relevance"


@dataclass(frozen=True)
class CaseSort:
    """One sort field and its direction. Ties are broken by creation order in the same direction,
    so the order is total and a keyset cursor can resume it exactly."""

    field: SortField
    descending: bool

    @classmethod
    def parse(cls, text: str, *, searching: bool) -> CaseSort:
        """`created_at`, `-created_at`, ... `relevance` is only meaningful with a search."""
        descending = text.startswith("-")
        name = text[1:] if descending else text
        try:
            sort_field = SortField(name)
        except ValueError:
            allowed = ", ".join(f.value for f in SortField)
            raise InvalidInput("sort", f"must be one of {allowed}, optionally prefixed by -", location="query") from None
        if sort_field is SortField.RELEVANCE and not searching:
            raise InvalidInput("sort", "relevance needs a search: give q", location="query")
        return cls(sort_field, descending)

    def __str__(self) -> str:
        return ("-" if self.descending else "") + self.field.value


NEWEST_FIRST = CaseSort(SortField.CREATED_AT, descending=True)
MOST_RELEVANT_FIRST = CaseSort(SortField.RELEVANCE, descending=True)
STATUS_RANK = {status: rank for rank, status in enumerate(CaseStatus)}
SEVERITY_RANK = {severity: severity.rank for severity in Severity}
# Relevance: each search term scores by the best field it matches in.
RELEVANCE_WEIGHTS = {"title": 4, "tags": 2, "description": 1}

# A keyset position: the sort key of the last row seen and its creation sequence.
Position = tuple[Any, int]


@dataclass(frozen=True)
class CaseQuery:
    """Filters on one user's cases, the order and the page. Each tuple matches any of its values;
    empty means no filter. Time bounds: `*_after` inclusive, `*_before` exclusive."""

    user_id: str
    statuses: tuple[str, ...] = ()
    severities: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    session_ids: tuple[str, ...] = ()
    created_after: datetime | None = None
    created_before: datetime | None = None
    updated_after: datetime | None = None
    updated_before: datetime | None = None
    resolved: bool | None = None
    has_session: bool | None = None
    search: SearchQuery | None = None
    search_messages: bool = False
    sort: CaseSort = NEWEST_FIRST
    after: Position | None = None
    limit: int = 50
    offset: int = 0
    include_total: bool = False

    def selection_key(self) -> str:
        """Everything that decides which cases are listed and in what order, as one canonical
        string: a cursor made for one selection is refused by another."""
        parts = {
            "user": self.user_id,
            "status": sorted(self.statuses),
            "severity": sorted(self.severities),
            "category": sorted(self.categories),
            "tag": sorted(self.tags),
            "session": sorted(self.session_ids),
            "created": [_stamp(self.created_after), _stamp(self.created_before)],
            "updated": [_stamp(self.updated_after), _stamp(self.updated_before)],
            "resolved": self.resolved,
            "has_session": self.has_session,
            "q": self.search.text if self.search else None,
            "in_messages": self.search_messages,
            "sort": str(self.sort),
        }
        return json.dumps(parts, sort_keys=True, separators=(",", ":"))


def _stamp(value: datetime | None) -> str | None:
    return value.astimezone(UTC).isoformat() if value else None


@dataclass(frozen=True)
class CasePage:
    """One page. `total` is None unless asked for; `next_position` is None on the last page."""

    cases: list[Case] = field(default_factory=list)
    total: int | None = None
    next_position: Position | None = None


@dataclass(frozen=True)
class CaseStats:
    """Dashboard counts over the cases a query selects (its page, order and cursor aside)."""

    total: int
    by_status: dict[str, int]
    by_severity: dict[str, int]
    by_category: dict[str, int]
    top_tags: list[TagCount]
    open: int
    resolved: int
    created_per_day: list[tuple[date, int]]
    resolved_count: int
    mean_seconds_to_resolve: float | None
    median_seconds_to_resolve: float | None


# How many cases one batch lookup may name.
BATCH_MAX_IDS = 100


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
    evidence: EvidencePage = field(default_factory=lambda: EvidencePage())

    @property
    def messages_omitted(self) -> int:
        return self.case.message_count - len(self.messages)


# Bounds of the agent's context: defaults when a caller gives none, and the largest accepted.
# The default max_chars fits one message of the largest size, so the newest message always fits.
CONTEXT_DEFAULT_MAX_MESSAGES = 50
CONTEXT_MAX_MESSAGES_LIMIT = 500
CONTEXT_DEFAULT_MAX_CHARS = 50_000
CONTEXT_MAX_CHARS_LIMIT = 1_000_000


@dataclass(frozen=True)
class EvidencePage:
    evidence: list[Evidence] = field(default_factory=list)
    total: int = 0


# The agent's context names at most this many of the case's newest evidence references.
CONTEXT_MAX_EVIDENCE = 50
