"""Who is acting, and under which correlation id: passed explicitly from the API to each use case."""

from __future__ import annotations

from dataclasses import dataclass, field

ADMIN_ROLE = "admin"
# Other platform services (the event ingress caller, operators' tooling) may use the internal API
# with this role instead of a human's `admin`.
SERVICE_ROLE = "platform-service"


@dataclass(frozen=True)
class Actor:
    user_id: str
    email: str | None = None
    roles: frozenset[str] = field(default_factory=frozenset)

    @property
    def is_admin(self) -> bool:
        return ADMIN_ROLE in self.roles

    @property
    def is_operator(self) -> bool:
        """May call `/internal/v1`: an admin, or another platform service."""
        return bool(self.roles & {ADMIN_ROLE, SERVICE_ROLE})


@dataclass(frozen=True)
class RequestContext:
    actor: Actor
    correlation_id: str
    # W3C trace context of the request (this service's span, and the caller's tracestate), carried
    # into the events it writes.
    traceparent: str | None = None
    tracestate: str | None = None
