"""DATABASE_READ_URL: list, search, stats and batch read the replica; everything else the primary.

The "replica" is a second database with the same schema, filled independently, so a response
shows which database it was read from.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from case_service.main import create_app
from tests.api.helpers import create
from tests.conftest import client_for, make_settings, migrate


@pytest.fixture
def replica_url(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if backend == "sqlite":
        path = tmp_path / "replica.db"
        shutil.copy(request.getfixturevalue("sqlite_template"), path)
        return f"sqlite+aiosqlite:///{path}"
    new_database: Callable[[], str] = request.getfixturevalue("postgres_server")
    url = new_database()
    migrate(url)
    return url


async def test_list_search_stats_and_batch_read_the_replica(app: object, database_url: str, replica_url: str) -> None:
    # Something only the replica holds, written through an app whose primary is the replica.
    replica_writer = create_app(make_settings(replica_url))
    async with replica_writer.router.lifespan_context(replica_writer), client_for(replica_writer) as writer:
        on_replica = await create(writer, title="replicated disk", tags=["db"])

    routed = create_app(make_settings(database_url, database_read_url=replica_url))
    async with routed.router.lifespan_context(routed), client_for(routed) as client:
        on_primary = await create(client, title="primary disk")

        listed = (await client.get("/api/v1/cases")).json()["cases"]
        assert [c["case_id"] for c in listed] == [on_replica["case_id"]]
        assert [c["title"] for c in (await client.get("/api/v1/cases", params={"q": "disk"})).json()["cases"]] == [
            "replicated disk"
        ]
        assert (await client.get("/api/v1/users/alice/cases")).json()["cases"] == listed
        assert (await client.get("/api/v1/cases/stats")).json()["top_tags"] == [{"tag": "db", "count": 1}]
        batch = await client.post("/api/v1/cases/batch", json={"case_ids": [on_primary["case_id"], on_replica["case_id"]]})
        assert [r["result"] for r in batch.json()["results"]] == ["not_found", "found"]
        # Single-case reads and writes stay on the primary.
        assert (await client.get(f"/api/v1/cases/{on_primary['case_id']}")).status_code == 200
        assert (await client.get(f"/api/v1/cases/{on_replica['case_id']}")).status_code == 404


async def test_without_a_read_url_lists_read_the_primary(client: object) -> None:
    created = await create(client, title="here")  # type: ignore[arg-type]
    listed = (await client.get("/api/v1/cases")).json()["cases"]  # type: ignore[attr-defined]
    assert [c["case_id"] for c in listed] == [created["case_id"]]
