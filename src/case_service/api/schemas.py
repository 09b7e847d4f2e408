"""Request and response bodies. Domain objects are turned into these at the edge; nothing else leaks."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from case_service.domain.case import (
    CASE_ID_PATTERN,
    DESCRIPTION_MAX_LENGTH,
    MAX_TAGS,
    REASON_MAX_LENGTH,
    SESSION_ID_MAX_LENGTH,
    TAG_MAX_LENGTH,
    TITLE_MAX_LENGTH,
    Case,
    CaseStatus,
    Category,
    Severity,
)
from case_service.domain.messages import MESSAGE_CONTENT_MAX_LENGTH, Message, MessageRole
from case_service.domain.evidence import Evidence
from case_service.domain.queries import CaseContext, HistoryEntry, RecordedTransition

Title = Annotated[str, StringConstraints(min_length=1, max_length=TITLE_MAX_LENGTH)]
Description = Annotated[str, StringConstraints(max_length=DESCRIPTION_MAX_LENGTH)]
SessionId = Annotated[str, StringConstraints(min_length=1, max_length=SESSION_ID_MAX_LENGTH)]
Tag = Annotated[str, StringConstraints(min_length=1, max_length=TAG_MAX_LENGTH)]
# Before normalization a caller may send duplicates; the distinct count is checked by the domain.
Tags = Annotated[list[Tag], Field(max_length=MAX_TAGS * 5)]

_EXAMPLE_CASE: dict[str, Any] = {
    "case_id": "case_3f2a9c1b7d4e",
    "user_id": "user_123",
    "session_id": "session_xyz789",
    "title": "Database connection timeout",
    "description": "Users see intermittent connection timeouts",
    "status": "investigating",
    "severity": "high",
    "category": "performance",
    "metadata": {"service": "checkout"},
    "tags": ["database", "timeout"],
    "created_at": "2026-11-15T10:30:00Z",
    "updated_at": "2026-11-15T12:45:00Z",
    "resolved_at": None,
    "version": 4,
    "message_count": 2,
    "last_activity_at": "2026-11-15T12:50:00Z",
}
_EXAMPLE_MESSAGE: dict[str, Any] = {
    "message_id": "msg_9c1b7d4e3f2a0b1c",
    "case_id": "case_3f2a9c1b7d4e",
    "sequence": 2,
    "role": "assistant",
    "content": "Check the connection pool size of the checkout service.",
    "metadata": {"model": "fm-agent-1"},
    "created_at": "2026-11-15T12:50:00Z",
}


class CaseCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "title": "Database connection timeout",
                    "description": "Users see intermittent connection timeouts",
                    "severity": "high",
                    "category": "performance",
                    "tags": ["Database", "timeout"],
                    "metadata": {"service": "checkout"},
                    "session_id": "session_xyz789",
                }
            ]
        },
    )

    title: Title | None = Field(
        default=None,
        description="1-200 characters, not blank. When absent the service names the case `Case-MMDD-N`.",
    )
    description: Description = ""
    severity: Severity = Severity.MEDIUM
    category: Category = Category.OTHER
    metadata: dict[str, Any] = Field(default_factory=dict, description="Any JSON object.")
    tags: Tags = Field(default_factory=list, description="Trimmed, lower-cased, deduplicated, sorted.")
    session_id: SessionId | None = None


class CaseUpdate(BaseModel):
    """Every field is optional: fields left out stay unchanged. `tags` and `metadata` replace the
    whole list or object. `session_id: null` unlinks the session; other fields do not take null."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"severity": "critical", "tags": ["database", "outage"]}]},
    )

    title: Title | None = None
    description: Description | None = None
    severity: Severity | None = None
    category: Category | None = None
    metadata: dict[str, Any] | None = None
    tags: Tags | None = None
    session_id: SessionId | None = None


class StatusChange(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"status": "investigating", "reason": "Reproduced on staging"}]},
    )

    status: CaseStatus
    reason: Annotated[str, StringConstraints(max_length=REASON_MAX_LENGTH)] | None = None


class CaseRead(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [_EXAMPLE_CASE]})

    case_id: Annotated[str, Field(pattern=CASE_ID_PATTERN)]
    user_id: str
    session_id: str | None
    title: str
    description: str
    status: CaseStatus
    severity: Severity
    category: Category
    metadata: dict[str, Any]
    tags: list[str]
    created_at: datetime
    updated_at: datetime
    resolved_at: datetime | None
    version: int = Field(
        description="Grows by exactly one with every change to the case, an added message included."
    )
    message_count: int = Field(description="How many messages the conversation holds.")
    last_activity_at: datetime = Field(
        description="The last change of any kind: fields, status, tags, or a message (`updated_at` "
        "does not move when a message is added)."
    )

    @classmethod
    def from_domain(cls, case: Case) -> CaseRead:
        return cls.model_validate(case_fields(case))


def case_fields(case: Case) -> dict[str, Any]:
    """`case` as CaseRead's fields, in its order: what `CaseRead.from_domain` validates, and what
    a list page writes as it is (`api/json_body.py`)."""
    return {
        "case_id": case.case_id,
        "user_id": case.user_id,
        "session_id": case.session_id,
        "title": case.title,
        "description": case.description,
        "status": case.status,
        "severity": case.severity,
        "category": case.category,
        "metadata": case.metadata,
        "tags": case.tags,
        "created_at": case.created_at,
        "updated_at": case.updated_at,
        "resolved_at": case.resolved_at,
        "version": case.version,
        "message_count": case.message_count,
        "last_activity_at": case.last_activity_at or case.updated_at,
    }


class CaseFields(BaseModel):
    """A case cut down to the fields a list's `fields=` asked for: `case_id` and any of the others."""

    model_config = ConfigDict(extra="forbid")

    case_id: Annotated[str, Field(pattern=CASE_ID_PATTERN)]
    user_id: str | None = None
    session_id: str | None = None
    title: str | None = None
    description: str | None = None
    status: CaseStatus | None = None
    severity: Severity | None = None
    category: Category | None = None
    metadata: dict[str, Any] | None = None
    tags: list[str] | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    resolved_at: datetime | None = None
    version: int | None = None
    message_count: int | None = None
    last_activity_at: datetime | None = None


class CaseList(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "cases": [_EXAMPLE_CASE],
                    "total": None,
                    "total_included": False,
                    "limit": 50,
                    "offset": 0,
                    "next_cursor": "eyJzIjoiOWYyYyIsImsiOlsiMjAyNi0xMS0xNVQxMDozMDowMCswMDowMCIsNDJdfQ.kq3N0s1c9Qe2",
                }
            ]
        }
    )

    cases: list[CaseRead | CaseFields] = Field(
        description="Whole cases; with `fields=`, each case holds only those fields (and `case_id`)."
    )
    total: int | None = Field(
        description="How many cases match, over all pages: only with `include_total=true`, else null "
        "(counting every match is not free at scale)."
    )
    total_included: bool = Field(description="Whether `total` was counted (`include_total=true`).")
    limit: int
    offset: int
    next_cursor: str | None = Field(
        description="Pass as `cursor` for the next page (also in the `Link` header, `rel=\"next\"`); null on the "
        "last page. Opaque and signed; valid only with the same filters, search and sort."
    )


class TagsAdd(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"tags": ["Database", "outage"]}]})

    tags: Annotated[list[Tag], Field(min_length=1, max_length=MAX_TAGS * 5)] = Field(
        description="Normalized like the case's tags (trimmed, lower-cased); tags already there change nothing."
    )


class TagCountRead(BaseModel):
    tag: str
    count: int = Field(description="How many of the caller's cases carry the tag.")


class TagCountList(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"tags": [{"tag": "database", "count": 3}, {"tag": "timeout", "count": 1}]}]}
    )

    tags: list[TagCountRead] = Field(description="Most used first; equal counts by name.")


class MessageCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"role": "user", "content": "Checkout times out since 10:00", "metadata": {"source": "chat"}}]
        },
    )

    role: MessageRole
    content: Annotated[str, StringConstraints(min_length=1, max_length=MESSAGE_CONTENT_MAX_LENGTH)] = Field(
        description="1-50,000 characters, not only whitespace; stored exactly as sent."
    )
    metadata: dict[str, Any] = Field(default_factory=dict, description="Any JSON object.")


class MessageRead(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [_EXAMPLE_MESSAGE]})

    message_id: str
    case_id: str
    sequence: int = Field(description="1, 2, 3, ... per case, in the order the messages were added; no gaps.")
    role: MessageRole
    content: str
    metadata: dict[str, Any]
    created_at: datetime

    @classmethod
    def from_domain(cls, message: Message) -> MessageRead:
        return cls(
            message_id=message.message_id,
            case_id=message.case_id,
            sequence=message.sequence,
            role=message.role,
            content=message.content,
            metadata=message.metadata,
            created_at=message.created_at,
        )


class MessageList(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"messages": [_EXAMPLE_MESSAGE], "total": 1, "limit": 50, "offset": 0}]}
    )

    messages: list[MessageRead] = Field(description="In conversation order (ascending `sequence`).")
    total: int = Field(description="How many messages come after `after` (all of them without it), over all pages.")
    limit: int
    offset: int


class ActorRead(BaseModel):
    user_id: str
    email: str | None


class HistoryEntryRead(BaseModel):
    history_id: int = Field(description="Grows with every entry: a later entry has a larger id.")
    version: int = Field(description="The case's version right after this change.")
    event_type: str = Field(
        description="`case.created`, `case.updated` (fields, tags included), `case.status_changed`, "
        "`case.message.added`, `case.evidence.added`."
    )
    details: dict[str, Any] = Field(
        description="created: the case as created. updated: `changes` — each changed field with `old` and "
        "`new` (tags also with `added` and `removed`). status_changed: `from_status`, `to_status`, `reason`. "
        "message.added: `message_id`, `sequence`, `role`, `content_length` (the content is in the messages)."
    )
    actor: ActorRead
    correlation_id: str | None
    occurred_at: datetime

    @classmethod
    def from_domain(cls, entry: HistoryEntry) -> HistoryEntryRead:
        return cls(
            history_id=entry.history_id,
            version=entry.version,
            event_type=entry.event_type,
            details=entry.details,
            actor=ActorRead(user_id=entry.actor_id, email=entry.actor_email),
            correlation_id=entry.correlation_id,
            occurred_at=entry.occurred_at,
        )


class HistoryList(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "entries": [
                        {
                            "history_id": 7,
                            "version": 3,
                            "event_type": "case.updated",
                            "details": {
                                "changes": {
                                    "tags": {
                                        "old": ["database"],
                                        "new": ["database", "outage"],
                                        "added": ["outage"],
                                        "removed": [],
                                    }
                                }
                            },
                            "actor": {"user_id": "user_123", "email": "ana@example.com"},
                            "correlation_id": "5b0c1f7e9a8d4c2b",
                            "occurred_at": "2026-11-15T12:45:00Z",
                        }
                    ],
                    "total": 3,
                    "limit": 50,
                    "offset": 0,
                }
            ]
        }
    )

    entries: list[HistoryEntryRead] = Field(description="Newest first.")
    total: int
    limit: int
    offset: int


class TransitionsRead(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "case_id": "case_3f2a9c1b7d4e",
                    "current_status": "investigating",
                    "allowed_statuses": ["resolved", "closed"],
                    "version": 4,
                }
            ]
        }
    )

    case_id: str
    current_status: CaseStatus
    allowed_statuses: list[CaseStatus] = Field(description="Empty when the status is terminal (`archived`).")
    version: int


class StatusTransitionRead(BaseModel):
    from_status: CaseStatus
    to_status: CaseStatus
    reason: str | None
    actor: ActorRead
    changed_at: datetime

    @classmethod
    def from_domain(cls, transition: RecordedTransition) -> StatusTransitionRead:
        return cls(
            from_status=CaseStatus(transition.from_status),
            to_status=CaseStatus(transition.to_status),
            reason=transition.reason,
            actor=ActorRead(user_id=transition.actor_id, email=transition.actor_email),
            changed_at=transition.changed_at,
        )


class EvidenceRead(BaseModel):
    """A reference to evidence the Evidence Service holds; fetch the file from that service."""

    evidence_id: str
    case_id: str
    file_name: str
    content_type: str | None
    size_bytes: int | None
    uploaded_at: datetime
    uploaded_by: str | None

    @classmethod
    def from_domain(cls, evidence: Evidence) -> EvidenceRead:
        return cls(
            evidence_id=evidence.evidence_id,
            case_id=evidence.case_id,
            file_name=evidence.file_name,
            content_type=evidence.content_type,
            size_bytes=evidence.size_bytes,
            uploaded_at=evidence.uploaded_at,
            uploaded_by=evidence.uploaded_by,
        )


_EXAMPLE_EVIDENCE: dict[str, Any] = {
    "evidence_id": "ev_7d4e3f2a9c1b",
    "case_id": "case_3f2a9c1b7d4e",
    "file_name": "checkout-pod.log",
    "content_type": "text/plain",
    "size_bytes": 48213,
    "uploaded_at": "2026-11-15T12:40:00Z",
    "uploaded_by": "user_123",
}


class EvidenceList(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"evidence": [_EXAMPLE_EVIDENCE], "total": 1, "limit": 50, "offset": 0}]}
    )

    evidence: list[EvidenceRead] = Field(description="Oldest upload first.")
    total: int
    limit: int
    offset: int


class ContextEvidence(BaseModel):
    items: list[EvidenceRead] = Field(description="The newest evidence references (at most 50), oldest first.")
    total: int = Field(description="How many evidence references the case has.")


class ContextMessages(BaseModel):
    items: list[MessageRead] = Field(description="The newest messages that fit the bounds, oldest first.")
    total: int = Field(description="How many messages the case holds.")
    included: int
    omitted: int = Field(description="Older messages left out by `max_messages` or `max_chars`.")
    included_chars: int = Field(description="The characters of content in `items`.")
    max_messages: int
    max_chars: int


class CaseContextRead(BaseModel):
    """What an agent needs to reason about the case, in one read. New sections may be added; a
    client ignores what it does not know."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "case": _EXAMPLE_CASE,
                    "tags": ["database", "timeout"],
                    "status_history": [
                        {
                            "from_status": "active",
                            "to_status": "investigating",
                            "reason": "Reproduced on staging",
                            "actor": {"user_id": "user_123", "email": "ana@example.com"},
                            "changed_at": "2026-11-15T11:00:00Z",
                        }
                    ],
                    "messages": {
                        "items": [_EXAMPLE_MESSAGE],
                        "total": 2,
                        "included": 1,
                        "omitted": 1,
                        "included_chars": 56,
                        "max_messages": 1,
                        "max_chars": 50000,
                    },
                    "evidence": {"items": [_EXAMPLE_EVIDENCE], "total": 1},
                }
            ]
        }
    )

    case: CaseRead
    tags: list[str]
    status_history: list[StatusTransitionRead] = Field(description="Every status move, oldest first.")
    messages: ContextMessages
    evidence: ContextEvidence

    @classmethod
    def from_domain(cls, context: CaseContext) -> CaseContextRead:
        items = [MessageRead.from_domain(message) for message in context.messages]
        return cls(
            case=CaseRead.from_domain(context.case),
            tags=list(context.case.tags),
            status_history=[StatusTransitionRead.from_domain(t) for t in context.status_history],
            messages=ContextMessages(
                items=items,
                total=context.case.message_count,
                included=len(items),
                omitted=context.messages_omitted,
                included_chars=sum(len(message.content) for message in context.messages),
                max_messages=context.bounds.max_messages,
                max_chars=context.bounds.max_chars,
            ),
            evidence=ContextEvidence(
                items=[EvidenceRead.from_domain(evidence) for evidence in context.evidence.evidence],
                total=context.evidence.total,
            ),
        )


class ErrorBody(BaseModel):
    """The one error body of the service, whatever went wrong."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "error": "Case case_3f2a9c1b7d4e was not found",
                    "code": "case_not_found",
                    "details": {"case_id": "case_3f2a9c1b7d4e"},
                    "correlation_id": "5b0c1f7e9a8d4c2b",
                }
            ]
        }
    )

    error: str = Field(description="What went wrong, for a human.")
    code: str = Field(description="A stable snake_case code for programs.")
    details: dict[str, Any] = Field(default_factory=dict)
    correlation_id: str | None = None


class Health(BaseModel):
    status: str
    service: str
    version: str


class Readiness(BaseModel):
    status: str
    checks: dict[str, Any]


class OutboxLastError(BaseModel):
    event_id: str
    aggregate_id: str
    attempts: int
    error: str | None
    next_attempt_at: str | None = Field(description="When the relay tries this event again.")


class RelayStatus(BaseModel):
    active: str | None = Field(
        description="The relay publishing for this database now (its identity: service/host/pid/nonce), or null."
    )
    this_process: dict[str, Any] | None = Field(
        description="This process's relay: its identity, whether it leads, its publisher and its last error; "
        "null when OUTBOX_RELAY_ENABLED is off here."
    )


class OutboxStatsRead(BaseModel):
    pending: int = Field(description="Events written but not yet published.")
    oldest_pending_age_seconds: float | None = Field(description="Age of the oldest pending event; null when none.")
    failing: int = Field(description="Pending events whose publication failed at least once (waiting to retry).")
    published: int = Field(description="Published events still kept (see OUTBOX_RETENTION_SECONDS).")
    last_error: OutboxLastError | None = Field(description="The latest failure of a still-pending event.")
    relay: RelayStatus
