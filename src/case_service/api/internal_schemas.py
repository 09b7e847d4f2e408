"""Bodies of the `/internal/v1` event routes: the incoming envelope, receipts, dead letters."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from case_service.domain.inbox import DeadLetter, Outcome
from case_service.service.platform_events import Receipt


class PlatformEventIn(BaseModel):
    """The platform envelope (seed 001 §5.2/§5.4). Documentation only: the raw bytes are verified
    and parsed by the service, so the signature covers exactly what was sent."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "event_id": "0b6f5c8e-2f0c-4c3e-9a55-3f1f0b7d9e21",
                    "event_type": "evidence.uploaded",
                    "schema_version": "1.0.0",
                    "timestamp": "2026-11-15T12:40:00Z",
                    "correlation_id": "5b0c1f7e9a8d4c2b",
                    "producer": "fm-evidence-service",
                    "payload": {
                        "evidence_id": "ev_7d4e3f2a9c1b",
                        "case_id": "case_3f2a9c1b7d4e",
                        "file_name": "checkout-pod.log",
                        "uploaded_by": "user_123",
                        "uploaded_at": "2026-11-15T12:40:00Z",
                    },
                }
            ]
        }
    )

    event_id: str = Field(description="A UUID; the idempotency key.")
    event_type: str = Field(description="`auth.user.deleted`, `evidence.uploaded` or `hypothesis.validated`.")
    schema_version: str = Field(description='Any "1.x" is understood; another major version is refused.')
    timestamp: datetime
    correlation_id: str | None = None
    producer: str | None = None
    payload: dict[str, Any]


class EventReceipt(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "event_id": "0b6f5c8e-2f0c-4c3e-9a55-3f1f0b7d9e21",
                    "event_type": "evidence.uploaded",
                    "outcome": "applied",
                    "reason": "evidence ev_7d4e3f2a9c1b linked to case_3f2a9c1b7d4e",
                    "affected": 1,
                }
            ]
        }
    )

    event_id: str
    event_type: str
    outcome: Outcome = Field(
        description="`applied`; `ignored` or `unknown_case` (recorded, not applied: `reason` says why); "
        "`duplicate` when the event had already been taken in (nothing changed)."
    )
    reason: str | None
    affected: int = Field(description="How many cases the event changed.")

    @classmethod
    def from_domain(cls, receipt: Receipt) -> EventReceipt:
        return cls(
            event_id=receipt.event_id,
            event_type=receipt.event_type,
            outcome=receipt.outcome,
            reason=receipt.reason,
            affected=receipt.affected,
        )


class DeadLetterRead(BaseModel):
    id: int
    consumer: str
    event_id: str | None = Field(description="Null when the delivery was too malformed to name it.")
    event_type: str | None
    source: str = Field(description="How it arrived: `nats`, `rabbitmq` or `http`.")
    body: str = Field(description="The delivery as received (UTF-8; undecodable bytes shown as U+FFFD).")
    error: str = Field(description="The last failure.")
    attempts: int
    first_failed_at: datetime
    last_failed_at: datetime
    replayed_at: datetime | None
    replay_outcome: Outcome | None

    @classmethod
    def from_domain(cls, dead: DeadLetter) -> DeadLetterRead:
        return cls(
            id=dead.dead_letter_id,
            consumer=dead.consumer,
            event_id=dead.event_id,
            event_type=dead.event_type,
            source=dead.source,
            body=dead.body.decode("utf-8", errors="replace"),
            error=dead.error,
            attempts=dead.attempts,
            first_failed_at=dead.first_failed_at,
            last_failed_at=dead.last_failed_at,
            replayed_at=dead.replayed_at,
            replay_outcome=Outcome(dead.replay_outcome) if dead.replay_outcome else None,
        )


class DeadLetterList(BaseModel):
    dead_letters: list[DeadLetterRead] = Field(description="Newest first.")
    total: int
    limit: int
    offset: int
