"""Prometheus instruments, one registry per app so two apps in one process never share counts.

Workers receive the app's `Metrics` and record what only they know (publish attempts, relay
leadership, inbox outcomes); the API layer records requests.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge


class Metrics:
    def __init__(self, namespace: str = "case") -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        registry = self.registry

        # The transactional outbox, as the active relay sees it after each cycle.
        self.outbox_pending = Gauge(
            "outbox_pending_events", "Events written but not yet published.", namespace=namespace, registry=registry
        )
        self.outbox_oldest_pending_age = Gauge(
            "outbox_oldest_pending_age_seconds",
            "Age of the oldest unpublished event (0 when none is pending).",
            namespace=namespace,
            registry=registry,
        )
        self.outbox_publish_attempts = Counter(
            "outbox_publish_attempts", "Attempts to publish an outbox event.", namespace=namespace, registry=registry
        )
        self.outbox_publish_failures = Counter(
            "outbox_publish_failures", "Publish attempts that failed.", namespace=namespace, registry=registry
        )
        self.relay_leader = Gauge(
            "outbox_relay_leader",
            "1 while this process holds the relay leadership, else 0.",
            namespace=namespace,
            registry=registry,
        )

        # The inbox of consumed platform events.
        self.inbox_processed = Counter(
            "inbox_events_processed",
            "Platform events applied, by event type.",
            ["event_type"],
            namespace=namespace,
            registry=registry,
        )
        self.inbox_duplicates = Counter(
            "inbox_duplicates", "Deliveries skipped because the event was already applied.", namespace=namespace,
            registry=registry,
        )
        self.inbox_dead_letters = Counter(
            "inbox_dead_letters", "Events moved to the dead-letter table.", namespace=namespace, registry=registry
        )
