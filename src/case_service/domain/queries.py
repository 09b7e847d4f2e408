"""Read-side value objects: what a caller asks of the case list, and what comes back."""

from __future__ import annotations

from dataclasses import dataclass, field

from case_service.domain.case import Case


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
