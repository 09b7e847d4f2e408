"""NATS JetStream: one stream over `<prefix>case.>`, created when absent; a publish counts once acked.

`Nats-Msg-Id` is the event id, so JetStream drops a re-publish of the same event (after a relay
died between publishing and marking) within the stream's duplicate window.
"""

from __future__ import annotations

import asyncio
import logging

import nats
from nats.aio.client import Client
from nats.js import JetStreamContext
from nats.js.errors import NotFoundError

from case_service.adapters.publishers import OutgoingEvent, PublishFailed

logger = logging.getLogger(__name__)


class NatsPublisher:
    name = "nats"

    def __init__(self, url: str, stream: str, subject_prefix: str = "", *, timeout: float) -> None:
        self._url = url
        self._stream = stream
        self._prefix = subject_prefix
        self._timeout = timeout
        self._client: Client | None = None
        self._js: JetStreamContext | None = None
        self._connecting = asyncio.Lock()

    def subject_of(self, event: OutgoingEvent) -> str:
        return self._prefix + event.channel

    async def publish(self, event: OutgoingEvent) -> None:
        js = await self._jetstream()
        assert self._client is not None
        if not self._client.is_connected:
            # Refuse rather than let the client buffer it until it reconnects: the relay retries
            # the event later anyway, and a full buffer would fail in ways that leak ack slots.
            raise PublishFailed(f"NATS not connected to {self._url} (reconnecting)")
        headers = {**event.headers, "Nats-Msg-Id": event.event_id}
        try:
            # publish_async pipelines on one reply subscription (about twice the rate of request
            # per publish); awaiting the ack before the case's next event keeps the case in order.
            # No `wait_stall`: a stall (4,000 unacknowledged publishes) ends within the relay's
            # bound on every publish (OUTBOX_PUBLISH_TIMEOUT), and nats-py waits for a stall
            # through an asyncio.wait_for, 12% of the relay's samples in a drain (PROFILE.md §12.2).
            ack = await js.publish_async(self.subject_of(event), event.body, stream=self._stream, headers=headers)
            # When the relay gives up, the awaited ack future is cancelled, which frees its slot in
            # the client. A second timeout here cost 7% of a drain's samples (PROFILE.md §15).
            await ack
        except Exception as exc:
            raise PublishFailed(f"NATS did not acknowledge: {type(exc).__name__}: {exc}") from exc

    async def _jetstream(self) -> JetStreamContext:
        # One connection for all concurrent publishes; it reconnects by itself once made.
        if self._js is not None:
            return self._js
        async with self._connecting:
            if self._js is None:
                try:
                    client = await nats.connect(
                        self._url,
                        name="fm-case-service outbox relay",
                        connect_timeout=max(1, int(self._timeout)),
                        reconnect_time_wait=0.5,
                        max_reconnect_attempts=-1,
                        allow_reconnect=True,
                        error_cb=self._on_error,
                        disconnected_cb=self._on_disconnected,
                    )
                except Exception as exc:
                    raise PublishFailed(f"NATS unreachable at {self._url}: {type(exc).__name__}: {exc}") from exc
                js = client.jetstream(timeout=self._timeout)
                try:
                    await self._ensure_stream(js)
                except Exception as exc:
                    await client.close()
                    raise PublishFailed(f"JetStream stream {self._stream}: {type(exc).__name__}: {exc}") from exc
                self._client, self._js = client, js
            return self._js

    async def _ensure_stream(self, js: JetStreamContext) -> None:
        try:
            await js.stream_info(self._stream)
        except NotFoundError:
            await js.add_stream(name=self._stream, subjects=[f"{self._prefix}case.>"])
            logger.info("created JetStream stream %s over %scase.>", self._stream, self._prefix)

    async def _on_error(self, exc: Exception) -> None:
        logger.warning("NATS connection: %s: %s", type(exc).__name__, exc)

    async def _on_disconnected(self) -> None:
        logger.warning("NATS disconnected from %s; reconnecting", self._url)

    async def close(self) -> None:
        client, self._client, self._js = self._client, None, None
        if client is not None:
            try:
                await client.close()
            except Exception:  # closing a broken connection: nothing left to release
                logger.debug("closing the NATS connection failed", exc_info=True)
