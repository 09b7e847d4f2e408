"""Idempotency-Key on create, message and status: a retry replays the first answer and changes
nothing; another body under the same key is a 422; concurrent duplicates make one change."""

from __future__ import annotations

import asyncio
import os
import shutil
import sqlite3
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from httpx import AsyncClient

from case_service.adapters.tables import case_messages, cases, event_outbox, idempotency_keys
from case_service.cli import purge_idempotency_keys
from case_service.config import Settings
from case_service.service.cases import utc_now
from tests.api.helpers import count_rows, create, outbox_of
from tests.conftest import FrozenClock, client_for

REPLAYED = "idempotent-replayed"


async def test_a_retried_create_replays_the_first_answer_and_creates_nothing(client: AsyncClient, app: object) -> None:
    headers = {"Idempotency-Key": "create-1"}
    first = await client.post("/api/v1/cases", json={"title": "Disk full", "tags": ["disk"]}, headers=headers)
    assert first.status_code == 201 and REPLAYED not in first.headers
    # The same JSON, serialized differently (order, spacing), is the same request.
    retry = await client.post(
        "/api/v1/cases",
        content=b'{ "tags": ["disk"],  "title": "Disk full" }',
        headers={**headers, "Content-Type": "application/json"},
    )
    assert retry.status_code == 201
    assert retry.headers[REPLAYED] == "true"
    assert retry.content == first.content and retry.headers["etag"] == first.headers["etag"] == '"1"'
    assert await count_rows(app, cases) == 1
    assert await count_rows(app, event_outbox) == 1


async def test_the_replay_is_the_original_answer_even_after_the_case_changed(client: AsyncClient) -> None:
    headers = {"Idempotency-Key": "create-2"}
    first = await client.post("/api/v1/cases", json={"title": "Disk full"}, headers=headers)
    await client.put(f"/api/v1/cases/{first.json()['case_id']}", json={"title": "Renamed"})
    retry = await client.post("/api/v1/cases", json={"title": "Disk full"}, headers=headers)
    assert retry.json() == first.json() and retry.json()["title"] == "Disk full"


async def test_the_same_key_with_another_body_or_endpoint_is_a_422_and_changes_nothing(
    client: AsyncClient, app: object
) -> None:
    headers = {"Idempotency-Key": "k-1"}
    first = await client.post("/api/v1/cases", json={"title": "Disk full"}, headers=headers)
    case_id = first.json()["case_id"]
    other_body = await client.post("/api/v1/cases", json={"title": "Other"}, headers=headers)
    assert other_body.status_code == 422, other_body.text
    assert other_body.json()["code"] == "idempotency_key_reused"
    assert other_body.json()["details"]["idempotency_key"] == "k-1"
    other_endpoint = await client.post(
        f"/api/v1/cases/{case_id}/messages", json={"role": "user", "content": "hi"}, headers=headers
    )
    assert other_endpoint.status_code == 422 and other_endpoint.json()["code"] == "idempotency_key_reused"
    assert await count_rows(app, cases) == 1 and await count_rows(app, case_messages) == 0
    assert await count_rows(app, event_outbox) == 1


async def test_keys_are_per_user(client: AsyncClient, bob: AsyncClient, app: object) -> None:
    headers = {"Idempotency-Key": "shared-key"}
    mine = await client.post("/api/v1/cases", json={"title": "Disk full"}, headers=headers)
    his = await bob.post("/api/v1/cases", json={"title": "Disk full"}, headers=headers)
    assert his.status_code == 201 and REPLAYED not in his.headers
    assert his.json()["case_id"] != mine.json()["case_id"] and his.json()["user_id"] == "bob"
    assert await count_rows(app, cases) == 2


async def test_a_retried_message_is_added_once(client: AsyncClient, app: object) -> None:
    case = await create(client, title="Disk full")
    url = f"/api/v1/cases/{case['case_id']}/messages"
    headers = {"Idempotency-Key": "msg-1"}
    first = await client.post(url, json={"role": "user", "content": "still failing"}, headers=headers)
    retry = await client.post(url, json={"role": "user", "content": "still failing"}, headers=headers)
    assert (first.status_code, retry.status_code) == (201, 201)
    assert retry.headers[REPLAYED] == "true" and retry.json() == first.json()
    assert await count_rows(app, case_messages) == 1
    assert [event for event, _, _ in await outbox_of(app, case["case_id"])] == ["case.created", "case.message.added"]


async def test_a_retried_status_change_replays_instead_of_failing_the_second_move(
    client: AsyncClient, app: object
) -> None:
    case = await create(client, title="Disk full")
    url = f"/api/v1/cases/{case['case_id']}/status"
    body = {"status": "investigating", "reason": "reproduced"}
    first = await client.post(url, json=body, headers={"Idempotency-Key": "st-1", "If-Match": '"1"'})
    # Without the key the repeat would be a 412 (stale If-Match) or a 409 (investigating -> investigating).
    retry = await client.post(url, json=body, headers={"Idempotency-Key": "st-1", "If-Match": '"1"'})
    assert (first.status_code, retry.status_code) == (200, 200)
    assert retry.headers[REPLAYED] == "true" and retry.content == first.content
    assert retry.headers["etag"] == '"2"'
    assert [event for event, _, _ in await outbox_of(app, case["case_id"])] == ["case.created", "case.status_changed"]


async def test_a_refused_request_keeps_no_key_so_its_retry_runs(client: AsyncClient, app: object) -> None:
    headers = {"Idempotency-Key": "try-again"}
    refused = await client.post("/api/v1/cases", json={"title": ""}, headers=headers)
    assert refused.status_code == 422
    assert await count_rows(app, idempotency_keys) == 0
    missing = await client.post(
        "/api/v1/cases/case_000000000000/status", json={"status": "investigating"}, headers={"Idempotency-Key": "st"}
    )
    assert missing.status_code == 404 and await count_rows(app, idempotency_keys) == 0
    fixed = await client.post("/api/v1/cases", json={"title": "Disk full"}, headers=headers)
    assert fixed.status_code == 201 and REPLAYED not in fixed.headers


async def test_after_the_ttl_the_key_runs_again(client: AsyncClient, app: object, clock: FrozenClock) -> None:
    start = utc_now()
    clock.now = start
    headers = {"Idempotency-Key": "daily"}
    first = await client.post("/api/v1/cases", json={"title": "Disk full"}, headers=headers)
    clock.now = start + timedelta(hours=23, minutes=59)
    assert (await client.post("/api/v1/cases", json={"title": "Disk full"}, headers=headers)).headers[REPLAYED] == "true"
    clock.now = start + timedelta(hours=24, seconds=1)
    later = await client.post("/api/v1/cases", json={"title": "Disk full"}, headers=headers)
    assert later.status_code == 201 and REPLAYED not in later.headers
    assert later.json()["case_id"] != first.json()["case_id"]
    # And the taken-over key now replays its new answer.
    again = await client.post("/api/v1/cases", json={"title": "Disk full"}, headers=headers)
    assert again.json()["case_id"] == later.json()["case_id"]
    assert await count_rows(app, idempotency_keys) == 1


async def test_the_purge_deletes_only_expired_keys(
    client: AsyncClient, app: object, clock: FrozenClock, settings: Settings
) -> None:
    clock.now = utc_now() - timedelta(days=2)
    await client.post("/api/v1/cases", json={"title": "Old"}, headers={"Idempotency-Key": "old"})
    clock.now = None
    await client.post("/api/v1/cases", json={"title": "New"}, headers={"Idempotency-Key": "new"})
    assert await purge_idempotency_keys(settings) == 1
    assert await count_rows(app, idempotency_keys) == 1
    assert await count_rows(app, idempotency_keys, key="new") == 1
    assert await count_rows(app, cases) == 2  # the cases themselves stay


@pytest.mark.parametrize("key", ["", "a b", "é", "x" * 256, "tab\there"])
async def test_a_malformed_key_is_a_400_naming_the_header(client: AsyncClient, app: object, key: str) -> None:
    response = await client.post(
        "/api/v1/cases", json={"title": "Disk full"}, headers={"Idempotency-Key": key.encode("utf-8")}
    )
    assert response.status_code == 400, response.text
    assert response.json()["details"]["header"] == "Idempotency-Key"
    assert await count_rows(app, cases) == 0


async def test_concurrent_duplicates_make_exactly_one_case(app: object) -> None:
    """Ten identical requests at once: one creates, nine wait on its claim and replay its answer."""
    clients = [client_for(app) for _ in range(10)]
    try:
        answers = await asyncio.gather(
            *(
                c.post("/api/v1/cases", json={"title": "Storm"}, headers={"Idempotency-Key": "storm"})
                for c in clients
            )
        )
    finally:
        await asyncio.gather(*(c.aclose() for c in clients))
    assert [answer.status_code for answer in answers] == [201] * 10, [a.text for a in answers]
    assert len({answer.json()["case_id"] for answer in answers}) == 1
    assert sorted(answer.headers.get(REPLAYED, "no") for answer in answers) == ["no"] + ["true"] * 9
    assert await count_rows(app, cases) == 1
    assert await count_rows(app, event_outbox) == 1


async def test_concurrent_duplicate_messages_add_exactly_one(app: object) -> None:
    async with client_for(app) as owner:
        case = await create(owner, title="Disk full")
    url = f"/api/v1/cases/{case['case_id']}/messages"
    clients = [client_for(app) for _ in range(10)]
    try:
        answers = await asyncio.gather(
            *(
                c.post(url, json={"role": "user", "content": "retry storm"}, headers={"Idempotency-Key": "m"})
                for c in clients
            )
        )
    finally:
        await asyncio.gather(*(c.aclose() for c in clients))
    assert [answer.status_code for answer in answers] == [201] * 10
    assert {answer.json()["sequence"] for answer in answers} == {1}
    assert await count_rows(app, case_messages) == 1
    assert len(await outbox_of(app, case["case_id"])) == 2


def test_the_purge_command_deletes_expired_keys(sqlite_template: Path, tmp_path: Path) -> None:
    """`case-service purge-idempotency-keys` as cron would run it (the purge itself is tested on
    both databases above; this is the command's plumbing)."""
    path = tmp_path / "cases.db"
    shutil.copy(sqlite_template, path)
    with sqlite3.connect(path) as db:
        for key, expires in (("old", "2000-01-01 00:00:00"), ("live", "2999-01-01 00:00:00")):
            db.execute(
                "INSERT INTO idempotency_keys (user_id, key, fingerprint, status_code, response_body,"
                " response_headers, created_at, expires_at) VALUES ('alice', ?, 'f', 201, '{}', '{}', ?, ?)",
                (key, expires, expires),
            )
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{path}", "AUTO_MIGRATE": "false"}
    command = [str(Path(sys.executable).parent / "case-service"), "purge-idempotency-keys"]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "purged 1 expired idempotency keys" in done.stderr
    with sqlite3.connect(path) as db:
        assert [key for (key,) in db.execute("SELECT key FROM idempotency_keys")] == ["live"]
