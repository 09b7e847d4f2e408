"""`case-service dead-letters ...` and `case-service consume`: the operator's command line."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from case_service import cli
from tests.api.helpers import create
from tests.brokers import eventually, new_names, prepare, publish, remove, require_broker
from tests.conftest import migrate
from tests.events import body_of, envelope, evidence_event


async def run_cli(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], database_url: str, *args: str
) -> tuple[int, Any, str]:
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("AUTO_MIGRATE", "false")
    code = 0
    try:
        await asyncio.to_thread(cli.main, list(args))
    except SystemExit as exit_:
        code = int(exit_.code or 0)
    out, err = capsys.readouterr()
    return code, json.loads(out) if out.strip() else None, err


async def test_dead_letters_from_the_command_line(
    app: Any, client: Any, database_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    case_id = (await create(client))["case_id"]
    good = await app.state.platform_events.dead_letter(body_of(evidence_event(case_id)), "nats", "was broken", 5)
    await app.state.platform_events.dead_letter(b"not json", "rabbitmq", "malformed_event: body", 1)

    code, listed, _ = await run_cli(monkeypatch, capsys, database_url, "dead-letters", "list", "--limit", "1")
    assert code == 0
    assert listed["total"] == 2 and len(listed["dead_letters"]) == 1
    assert listed["dead_letters"][0]["body"] == "not json"

    replays = [await run_cli(monkeypatch, capsys, database_url, "dead-letters", "replay", str(good)) for _ in "12"]
    assert [(code, out["outcome"]) for code, out, _ in replays] == [(0, "applied"), (0, "duplicate")]
    assert (await client.get(f"/api/v1/cases/{case_id}/evidence")).json()["total"] == 1

    code, out, _ = await run_cli(monkeypatch, capsys, database_url, "dead-letters", "delete", str(good))
    assert (code, out) == (0, {"deleted": good})
    code, out, err = await run_cli(monkeypatch, capsys, database_url, "dead-letters", "replay", str(good))
    assert (code, out) == (1, None)
    assert err.startswith("dead_letter_not_found")


async def test_consume_runs_alone_applies_events_and_stops_on_sigterm(tmp_path: Path) -> None:
    """The standalone consumer process, on NATS and a SQLite file (the lifespan tests cover both
    brokers and databases; this proves the command itself)."""
    await asyncio.to_thread(require_broker, "nats")
    names = new_names("nats")
    await prepare(names)
    url = f"sqlite+aiosqlite:///{tmp_path / 'consume.db'}"
    await asyncio.to_thread(migrate, url)
    env = {
        **os.environ,
        "DATABASE_URL": url,
        **{key.upper(): (",".join(v) if isinstance(v, list) else str(v)) for key, v in names.settings().items()},
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "case_service.cli", "consume"], env=env, cwd=tmp_path, stderr=subprocess.PIPE
    )
    try:
        event = envelope("auth.user.deleted", {"user_id": "alice"})
        await publish(names, "auth.user.deleted.v1", body_of(event))

        async def recorded() -> bool:
            from sqlalchemy import text
            from sqlalchemy.ext.asyncio import create_async_engine

            engine = create_async_engine(url)
            try:
                async with engine.connect() as conn:
                    query = text("SELECT outcome FROM event_inbox WHERE event_id = :id")
                    return (await conn.execute(query, {"id": event["event_id"]})).scalar() == "applied"
            finally:
                await engine.dispose()

        await eventually(recorded, what="the standalone consumer to apply the event")
        process.send_signal(signal.SIGTERM)
        assert await asyncio.to_thread(process.wait, 15) == 0
    finally:
        if process.poll() is None:
            process.kill()
        process.wait()
        await remove(names)
    assert b"consuming" in process.stderr.read()  # type: ignore[union-attr]


