"""Who is acting, and under which correlation id: passed explicitly from the API to each use case."""

from __future__ import annotations

from dataclasses import dataclass, field

ADMIN_ROLE = "admin"


@dataclass(frozen=True)
class Actor:
    user_id: str
    email: str | None = None
    roles: frozenset[str] = field(default_factory=frozenset)

    @property
    def is_admin(self) -> bool:
        return ADMIN_ROLE in self.roles


@dataclass(frozen=True)
class RequestContext:
    actor: Actor
    correlation_id: str
