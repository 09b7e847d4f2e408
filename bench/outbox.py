"""Outbox measurements: commit-to-publish latency at a steady write rate, and the drain of a backlog.

Both need the service's relay publishing to NATS. On a commit whose service has no relay settings
the harness says so (pending) instead of measuring something else.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from case_service.config import Settings

from bench.dataset import Dataset


@dataclass(frozen=True)
class OutboxResult:
    pending: str | None = None  # why nothing was measured
    rate_per_s: float = 0.0
    published: int = 0
    p50_ms: float = 0.0
    p99_ms: float = 0.0
    backlog: int = 0
    drain_seconds: float = 0.0

    @property
    def drain_per_s(self) -> float:
        return self.backlog / self.drain_seconds if self.drain_seconds else 0.0


def relay_settings_known() -> bool:
    return any("publisher" in name for name in Settings.model_fields)


def relay_env() -> dict[str, str]:
    """The service settings that make its relay publish to NATS, when the service has a relay."""
    if not relay_settings_known():
        return {}
    return {"EVENT_PUBLISHER": "nats", "NATS_URL": "nats://127.0.0.1:4222"}


def skipped(reason: str) -> OutboxResult:
    return OutboxResult(pending=reason)


async def measure(dataset: Dataset, work: Path, *, smoke: bool) -> OutboxResult:
    if not relay_settings_known():
        return skipped("pending: the service on this commit has no relay publishing to a broker (issue 3)")
    return skipped("pending: relay measurement not wired yet")
