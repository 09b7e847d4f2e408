"""`case-service relay`: the relay as a process of its own, stopped by SIGTERM."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from pathlib import Path

from fastapi import FastAPI
from httpx import AsyncClient

from tests.api.helpers import create
from tests.brokers import eventually
from tests.integration.relays import nothing_pending


async def test_the_relay_command_publishes_what_the_api_wrote_and_stops_on_sigterm(
    app: FastAPI, client: AsyncClient, database_url: str, tmp_path: Path
) -> None:
    case_id = (await create(client, title="Published by the relay process"))["case_id"]
    environment = {
        **os.environ,
        "DATABASE_URL": database_url,
        "EVENT_PUBLISHER": "log",
        "OUTBOX_POLL_INTERVAL": "0.1",
        "LOG_LEVEL": "INFO",
        "LOG_FORMAT": "json",
    }
    log = (tmp_path / "relay.log").open("wb")
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "case_service.cli", "relay", env=environment, cwd=tmp_path, stdout=log, stderr=log
    )
    try:
        await eventually(lambda: nothing_pending(app.state.database), timeout=30, what="the relay process to publish")
        process.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(process.wait(), timeout=15) == 0
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
        log.close()
    records = [json.loads(line) for line in (tmp_path / "relay.log").read_text().splitlines() if line.startswith("{")]
    events = [json.loads(record["message"]) for record in records if record["logger"] == "case_service.events"]
    assert [(e["channel"], e["event"]["aggregate_id"]) for e in events] == [("case.created.v1", case_id)]
