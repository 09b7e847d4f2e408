"""Publishers put one outbox event on the wire and return only once the receiver has taken it.

`publish` raises on any failure (unreachable, refused, unroutable, unconfirmed, timed out); the
relay then records the error and retries the event later. Every publisher sends the same JSON
body (the envelope) with the CloudEvents attributes as headers.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from case_service.adapters.outbox import channel_for

if TYPE_CHECKING:
    from case_service.config import Settings


class PublishFailed(Exception):
    """The receiver did not take the event; the message says why."""


@dataclass(frozen=True)
class OutgoingEvent:
    event_id: str
    event_type: str
    aggregate_id: str
    aggregate_version: int
    body: bytes
    headers: dict[str, str]

    @property
    def channel(self) -> str:
        """The versioned channel, e.g. `case.created.v1`: NATS subject, AMQP routing key."""
        return channel_for(self.event_type)

    @classmethod
    def from_envelope(cls, envelope: dict[str, Any], headers: dict[str, str]) -> OutgoingEvent:
        return cls(
            event_id=envelope["event_id"],
            event_type=envelope["event_type"],
            aggregate_id=envelope["aggregate_id"],
            aggregate_version=envelope["aggregate_version"],
            body=json.dumps(envelope, separators=(",", ":"), ensure_ascii=False).encode(),
            headers=dict(headers),
        )


class EventPublisher(Protocol):
    name: str

    async def publish(self, event: OutgoingEvent) -> None:
        """Return once the receiver acknowledged the event; raise otherwise."""

    async def close(self) -> None:
        """Release connections; the publisher may be used again after (it reconnects)."""


def build_publisher(settings: Settings) -> EventPublisher:
    """The publisher EVENT_PUBLISHER names. Broker clients are imported only when chosen."""
    timeout = settings.outbox_publish_timeout
    if settings.event_publisher == "nats":
        from case_service.adapters.publishers.nats_jetstream import NatsPublisher

        return NatsPublisher(
            settings.nats_url, settings.nats_stream, settings.nats_subject_prefix, timeout=timeout
        )
    if settings.event_publisher == "rabbitmq":
        from case_service.adapters.publishers.rabbitmq import RabbitMqPublisher

        return RabbitMqPublisher(settings.rabbitmq_url, settings.rabbitmq_exchange, timeout=timeout)
    if settings.event_publisher == "webhook":
        from case_service.adapters.publishers.webhook import WebhookPublisher

        assert settings.webhook_url and settings.webhook_secret  # the settings validator demands both
        return WebhookPublisher(settings.webhook_url, settings.webhook_secret, timeout=timeout)
    from case_service.adapters.publishers.log import LogPublisher

    return LogPublisher()
