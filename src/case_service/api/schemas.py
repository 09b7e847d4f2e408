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
    "version": 2,
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
    version: int = Field(description="Grows by exactly one with every change to the case.")

    @classmethod
    def from_domain(cls, case: Case) -> CaseRead:
        return cls(
            case_id=case.case_id,
            user_id=case.user_id,
            session_id=case.session_id,
            title=case.title,
            description=case.description,
            status=case.status,
            severity=case.severity,
            category=case.category,
            metadata=case.metadata,
            tags=case.tags,
            created_at=case.created_at,
            updated_at=case.updated_at,
            resolved_at=case.resolved_at,
            version=case.version,
        )


class CaseList(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"cases": [_EXAMPLE_CASE], "total": 1, "limit": 50, "offset": 0}]}
    )

    cases: list[CaseRead]
    total: int = Field(description="How many of the caller's cases match the filters, over all pages.")
    limit: int
    offset: int


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
