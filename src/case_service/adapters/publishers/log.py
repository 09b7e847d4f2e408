"""The default publisher: one JSON log line per event, so events are visible with nothing installed."""

from __future__ import annotations

import json
import logging

from case_service.adapters.publishers import OutgoingEvent

logger = logging.getLogger("case_service.events")


class LogPublisher:
    name = "log"

    async def publish(self, event: OutgoingEvent) -> None:
        line = {"channel": event.channel, "headers": event.headers, "event": json.loads(event.body)}
        logger.info(json.dumps(line, separators=(",", ":"), ensure_ascii=False))

    async def close(self) -> None:
        return None
