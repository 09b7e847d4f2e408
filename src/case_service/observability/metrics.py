"""Prometheus instruments, one registry per app so two apps in one process never share counts.

Workers receive the app's `Metrics` and record what only they know (publish attempts, relay
leadership, inbox outcomes); the API layer records requests.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

# Seconds. Dense around the 500 ms p99 objective so its breach shows in the histogram.
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 10.0)


class Metrics:
    def __init__(self, namespace: str = "case") -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        registry = self.registry

        # HTTP traffic, labelled by route template (never the raw path), method and status.
        self.http_requests = Counter(
            "http_requests",
            "HTTP requests answered.",
            ["route", "method", "status"],
            namespace=namespace,
            registry=registry,
        )
        self.http_request_duration = Histogram(
            "http_request_duration_seconds",
            "Time from receiving a request to sending the end of its response.",
            ["route", "method", "status"],
            buckets=LATENCY_BUCKETS,
            namespace=namespace,
            registry=registry,
        )
        self.http_in_flight = Gauge(
            "http_requests_in_flight", "Requests being handled now.", namespace=namespace, registry=registry
        )
        self.deprecated_calls = Counter(
            "deprecated_route_calls",
            "Calls to routes marked deprecated, by route template and method.",
            ["route", "method"],
            namespace=namespace,
            registry=registry,
        )
        self.database_pool = DatabasePoolCollector(namespace)
        registry.register(self.database_pool)

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


class DatabasePoolCollector(Collector):
    """Connection pool usage, read from the live pools at each scrape (nothing on the request path).

    The lifespan names each pool it opens (`primary`, and `replica` when reads go elsewhere); the
    `database` label tells them apart. Before start-up and after shutdown nothing is reported.
    """

    def __init__(self, namespace: str) -> None:
        self._prefix = f"{namespace}_db_pool"
        self._pools: dict[str, Callable[[], Any]] = {}

    def watch(self, database: str, pool: Callable[[], Any]) -> None:
        """`pool` returns the current pool (the engine may replace it after a dispose)."""
        self._pools[database] = pool

    def forget(self) -> None:
        self._pools.clear()

    def describe(self) -> Iterator[GaugeMetricFamily]:
        yield from self._families()

    def collect(self) -> Iterator[GaugeMetricFamily]:
        checked_out, size, overflow = self._families()
        for database, current_pool in list(self._pools.items()):
            pool = current_pool()
            if hasattr(pool, "checkedout"):  # a queue pool (both drivers here); others have no size
                checked_out.add_metric([database], pool.checkedout())
                size.add_metric([database], pool.size())
                overflow.add_metric([database], max(pool.overflow(), 0))
        yield from (checked_out, size, overflow)

    def _families(self) -> tuple[GaugeMetricFamily, GaugeMetricFamily, GaugeMetricFamily]:
        labels = ["database"]
        return (
            GaugeMetricFamily(f"{self._prefix}_checked_out", "Connections lent out now.", labels=labels),
            GaugeMetricFamily(f"{self._prefix}_size", "Connections the pool keeps (DATABASE_POOL_SIZE).", labels=labels),
            GaugeMetricFamily(f"{self._prefix}_overflow", "Connections open beyond the pool size now.", labels=labels),
        )
