"""Bodies of the dashboard counts and the batch lookup."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from case_service.api.schemas import CaseRead
from case_service.domain.case import CaseStatus, Category, Severity
from case_service.domain.queries import BATCH_MAX_IDS, CaseStats
from case_service.service.case_queries import BatchItem


class TagCountItem(BaseModel):
    tag: str
    count: int


class DayCount(BaseModel):
    day: date
    count: int


class ResolveTimes(BaseModel):
    resolved_cases: int = Field(description="Cases with a `resolved_at` among the selected ones.")
    mean_seconds: float | None = Field(description="From creation to `resolved_at`, to the millisecond; null without any.")
    median_seconds: float | None


class CaseStatsRead(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "total": 7,
                    "by_status": {"active": 3, "investigating": 1, "resolved": 2, "closed": 1, "archived": 0},
                    "by_severity": {"low": 1, "medium": 3, "high": 2, "critical": 1},
                    "by_category": {
                        "performance": 2,
                        "error": 3,
                        "configuration": 0,
                        "infrastructure": 1,
                        "security": 0,
                        "other": 1,
                    },
                    "top_tags": [{"tag": "database", "count": 4}, {"tag": "timeout", "count": 2}],
                    "open": 4,
                    "resolved": 2,
                    "created_per_day": [{"day": "2026-11-14", "count": 0}, {"day": "2026-11-15", "count": 7}],
                    "time_to_resolve": {"resolved_cases": 2, "mean_seconds": 5400.0, "median_seconds": 5400.0},
                }
            ]
        }
    )

    total: int = Field(description="The selected cases.")
    by_status: dict[str, int] = Field(description="Every status, zero included.")
    by_severity: dict[str, int]
    by_category: dict[str, int]
    top_tags: list[TagCountItem] = Field(description="The 10 tags carried by most selected cases; ties by name.")
    open: int = Field(description="Cases in `active` or `investigating`.")
    resolved: int = Field(description="Cases with a `resolved_at` (resolved, and not reopened since).")
    created_per_day: list[DayCount] = Field(
        description="Selected cases created on each UTC day of the window (`days`, today included), oldest first."
    )
    time_to_resolve: ResolveTimes

    @classmethod
    def from_domain(cls, stats: CaseStats, first_day: date, days: int) -> CaseStatsRead:
        created = dict(stats.created_per_day)
        window = [first_day + timedelta(days=offset) for offset in range(days)]
        return cls(
            total=stats.total,
            by_status={s.value: stats.by_status.get(s.value, 0) for s in CaseStatus},
            by_severity={s.value: stats.by_severity.get(s.value, 0) for s in Severity},
            by_category={c.value: stats.by_category.get(c.value, 0) for c in Category},
            top_tags=[TagCountItem(tag=t.tag, count=t.count) for t in stats.top_tags],
            open=stats.open,
            resolved=stats.resolved,
            created_per_day=[DayCount(day=day, count=created.get(day, 0)) for day in window],
            time_to_resolve=ResolveTimes(
                resolved_cases=stats.resolved_count,
                mean_seconds=stats.mean_seconds_to_resolve,
                median_seconds=stats.median_seconds_to_resolve,
            ),
        )


BatchId = Annotated[str, StringConstraints(min_length=1, max_length=64)]


class BatchLookup(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"case_ids": ["case_3f2a9c1b7d4e", "case_000000000000"]}]},
    )

    case_ids: Annotated[list[BatchId], Field(min_length=1, max_length=BATCH_MAX_IDS)] = Field(
        description=f"1 to {BATCH_MAX_IDS} ids; answered in this order, repeats included."
    )


class BatchItemRead(BaseModel):
    case_id: str
    result: Literal["found", "not_found"] = Field(
        description="`not_found` for a missing id, a malformed one, or another user's case (indistinguishable)."
    )
    case: CaseRead | None

    @classmethod
    def from_domain(cls, item: BatchItem) -> BatchItemRead:
        if item.case is None:
            return cls(case_id=item.case_id, result="not_found", case=None)
        return cls(case_id=item.case_id, result="found", case=CaseRead.from_domain(item.case))


_EXAMPLE_BATCH: dict[str, Any] = {
    "results": [
        {"case_id": "case_3f2a9c1b7d4e", "result": "found", "case": CaseRead.model_config["json_schema_extra"]["examples"][0]},  # type: ignore[index]
        {"case_id": "case_000000000000", "result": "not_found", "case": None},
    ]
}


class BatchResult(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [_EXAMPLE_BATCH]})

    results: list[BatchItemRead] = Field(description="One entry per requested id, in the order given.")
