"""A JetStream stream of the test's own (unique name and subject prefix), read back by sequence."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import Any

from nats.js import JetStreamContext
from nats.js.errors import NotFoundError

from case_service.adapters.publishers.nats_jetstream import NatsPublisher


@dataclass
class Received:
    subject: str
    headers: dict[str, str]
    envelope: dict[str, Any]


class TestStream:
    """The stream a test's relay publishes into. `publisher()` makes a NatsPublisher for it."""

    __test__ = False

    def __init__(self, js: JetStreamContext, url: str) -> None:
        self.js = js
        self.url = url
        token = uuid.uuid4().hex[:12]
        self.name = f"CASE_TEST_{token}"
        self.prefix = f"t{token}."

    def publisher(self, url: str | None = None, timeout: float = 2.0) -> NatsPublisher:
        return NatsPublisher(url or self.url, self.name, self.prefix, timeout=timeout)

    async def count(self) -> int:
        try:
            info = await self.js.stream_info(self.name)
        except NotFoundError:
            return 0
        return int(info.state.messages)

    async def holds(self, expected: int) -> bool:
        return await self.count() == expected

    async def messages(self) -> list[Received]:
        """Every message the stream holds, in stream order."""
        received = []
        for seq in range(1, await self.count() + 1):
            msg = await self.js.get_msg(self.name, seq)
            received.append(Received(msg.subject, dict(msg.headers or {}), json.loads(msg.data or b"")))
        return received
