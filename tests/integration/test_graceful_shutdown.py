"""SIGTERM under load, on the real server (`case-service serve` in a subprocess), on both databases.

What a client must be able to rely on: every request the server took on is answered (a change the
server committed always reached its caller, and always has its outbox row); once the signal is in,
new connections are refused rather than left hanging; the process exits cleanly.

Which of the load's requests happen to be inside the server at the signal is up to the scheduler, so
one request is held there on purpose: it announces its body with `Expect: 100-continue`, and sends
the body only once the server has said "100 Continue" (it is reading that request), the signal has
gone out and the server has logged that it is shutting down.
"""

from __future__ import annotations

import asyncio
import json
import signal
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from case_service.adapters.database import Database
from case_service.adapters.tables import cases, event_outbox
from tests.conftest import make_settings, migrate
from tests.support.server import RunningServer, serve

CLIENTS = 16
REQUESTS_BEFORE_SIGTERM = 60
USER = "load"


class HeldRequest:
    """A create whose headers the server has and whose body it waits for until `finish` sends it."""

    def __init__(self, base_url: str, title: str) -> None:
        self.address = httpx.URL(base_url)
        self.title = title
        self.body = json.dumps({"title": title}).encode()
        self.reader: asyncio.StreamReader
        self.writer: asyncio.StreamWriter

    async def start(self) -> None:
        """Return once the server has taken the request on: it has asked for the body."""
        host, port = self.address.host, self.address.port
        self.reader, self.writer = await asyncio.open_connection(host, port)
        head = (
            f"POST /api/v1/cases HTTP/1.1\r\nHost: {host}:{port}\r\nX-User-ID: {USER}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(self.body)}\r\n"
            "Expect: 100-continue\r\nConnection: close\r\n\r\n"
        )
        self.writer.write(head.encode())
        await self.writer.drain()
        interim = await self.reader.readuntil(b"\r\n\r\n")
        assert interim.startswith(b"HTTP/1.1 100 "), interim

    async def finish(self) -> tuple[int, dict[str, object]]:
        """Send the body; the status and JSON body of the answer."""
        self.writer.write(self.body)
        await self.writer.drain()
        answer = await self.reader.read()  # Connection: close, so the answer ends at end of stream
        self.writer.close()
        assert answer, "the server closed the connection of a request it had taken on, without an answer"
        head, _, body = answer.partition(b"\r\n\r\n")
        return int(head.split(b" ", 2)[1]), json.loads(body)


async def wait_for_log(log: Path, message: str) -> None:
    """Return once the server's JSON log holds a record with `message`."""
    while message not in _messages(log):
        await asyncio.sleep(0.01)


def _messages(log: Path) -> list[str]:
    return [json.loads(line)["message"] for line in log.read_text().splitlines() if line.startswith("{")]


@pytest.fixture
def served_database_url(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if backend == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path / 'served.db'}"
    else:
        url = request.getfixturevalue("postgres_server")()
    migrate(url)
    return url


@pytest.fixture
def server(served_database_url: str, tmp_path: Path) -> Iterator[RunningServer]:
    with serve(served_database_url, tmp_path, ACCESS_LOG="false", SHUTDOWN_TIMEOUT="10") as running:
        yield running


async def test_sigterm_under_load_answers_every_accepted_request_and_loses_no_event(
    server: RunningServer, served_database_url: str
) -> None:
    process, base, log = server.process, server.base_url, server.log
    answered: dict[str, int] = {}  # title -> status, for every request that got a response
    refused: list[str] = []  # titles whose connection the server did not take
    run = uuid.uuid4().hex[:8]
    held = HeldRequest(base, f"{run}-held")

    async def client(number: int) -> None:
        # A connection per request: no idle keep-alive connection can be closed under a request.
        limits = httpx.Limits(max_keepalive_connections=0)
        async with httpx.AsyncClient(base_url=base, limits=limits, timeout=30, headers={"X-User-ID": USER}) as http:
            for sequence in range(10_000):
                title = f"{run}-{number}-{sequence}"
                try:
                    response = await http.post("/api/v1/cases", json={"title": title})
                except httpx.TransportError:
                    refused.append(title)
                    return
                answered[title] = response.status_code

    async def terminate() -> None:
        await held.start()
        while len(answered) < REQUESTS_BEFORE_SIGTERM:
            await asyncio.sleep(0.01)
        process.send_signal(signal.SIGTERM)
        await wait_for_log(log, "Shutting down")
        status, body = await held.finish()
        answered[held.title] = status
        assert status == 201, body

    await asyncio.wait_for(asyncio.gather(terminate(), *(client(n) for n in range(CLIENTS))), timeout=60)
    # uvicorn re-raises the signal once it has shut down, so a clean exit reports SIGTERM.
    assert await asyncio.to_thread(process.wait, 30) in (0, -signal.SIGTERM)

    assert set(answered.values()) == {201}, f"statuses: {sorted(set(answered.values()))}"
    assert len(refused) == CLIENTS  # every client ended on a refused connection, none hung

    database = Database(make_settings(served_database_url))
    try:
        async with database.connection(write=False) as conn:
            stored = {row.title: row.case_id for row in await conn.execute(select(cases.c.title, cases.c.case_id))}
            with_event = set(
                (await conn.execute(select(event_outbox.c.aggregate_id).where(event_outbox.c.event_type == "case.created")))
                .scalars()
            )
    finally:
        await database.dispose()
    # A change the server committed was answered, and one it answered was committed; that includes
    # the request whose body came in after the shutdown had begun.
    assert held.title in stored
    assert set(stored) == set(answered)
    # Every committed change has its event in the outbox.
    assert set(stored.values()) <= with_event

    lines = [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
    messages = [line["message"] for line in lines]
    assert "Shutting down" in messages, "uvicorn's records go through our JSON logs"
    assert messages[-1] == "Finished server process [%d]" % process.pid
    assert any(message.endswith("stopped: workers finished, database pool closed") for message in messages)
    assert all(line["service"] == "fm-case-service" for line in lines)
