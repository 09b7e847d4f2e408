"""Webhook: an HTTP POST of the envelope, signed with case_service.signing; only a 2xx counts."""

from __future__ import annotations

import time

import httpx

from case_service.adapters.publishers import OutgoingEvent, PublishFailed
from case_service.signing import signature_headers


class WebhookPublisher:
    name = "webhook"

    def __init__(self, url: str, secret: str, *, timeout: float) -> None:
        self._url = url
        self._secret = secret
        self._timeout = timeout
        self._client: httpx.AsyncClient | None = None

    async def publish(self, event: OutgoingEvent) -> None:
        if self._client is None:
            self._client = httpx.AsyncClient(timeout=httpx.Timeout(self._timeout), follow_redirects=False)
        headers = {
            **event.headers,
            "Content-Type": "application/json",
            **signature_headers(self._secret, int(time.time()), event.body),
        }
        try:
            response = await self._client.post(self._url, content=event.body, headers=headers)
        except httpx.HTTPError as exc:
            raise PublishFailed(f"webhook unreachable: {type(exc).__name__}: {exc}") from exc
        if not response.is_success:
            raise PublishFailed(f"webhook answered HTTP {response.status_code}")

    async def close(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            await client.aclose()
