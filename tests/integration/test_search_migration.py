"""Migration 0006 indexes the cases and messages that exist when it runs, and its downgrade keeps them."""

from __future__ import annotations

import asyncio

from alembic import command
from sqlalchemy import inspect
from sqlalchemy.ext.asyncio import create_async_engine

from case_service.adapters.migrations import alembic_config
from case_service.main import create_app
from tests.api.helpers import create, post_message
from tests.conftest import client_for, make_settings


async def titles_found(url: str, **params: str) -> list[str]:
    app = create_app(make_settings(url))
    async with app.router.lifespan_context(app), client_for(app) as client:
        response = await client.get("/api/v1/cases", params=params)
        assert response.status_code == 200, response.text
        return [case["title"] for case in response.json()["cases"]]


async def test_upgrading_indexes_existing_cases_and_downgrading_removes_only_the_search(fresh_url: str) -> None:
    config = alembic_config(make_settings(fresh_url))
    await asyncio.to_thread(command.upgrade, config, "head")
    app = create_app(make_settings(fresh_url))
    async with app.router.lifespan_context(app), client_for(app) as client:
        case_id = (await create(client, title="Old outage", description="kafka lag", tags=["Broker"]))["case_id"]
        await post_message(client, case_id, "zookeeper restarted")
        await create(client, title="Unrelated")

    await asyncio.to_thread(command.downgrade, config, "0006-1")  # to just below the search migration
    engine = create_async_engine(fresh_url)
    async with engine.connect() as conn:
        tables = await conn.run_sync(lambda sync: set(inspect(sync).get_table_names()))
        columns = await conn.run_sync(lambda sync: {c["name"] for c in inspect(sync).get_columns("cases")})
    await engine.dispose()
    assert not {name for name in tables if "fts" in name} and "search_vector" not in columns
    assert {"cases", "case_tags", "case_messages"} <= tables

    await asyncio.to_thread(command.upgrade, config, "head")
    assert await titles_found(fresh_url, q="kafka broker outage") == ["Old outage"]
    assert await titles_found(fresh_url, q="zookeeper", **{"in": "messages"}) == ["Old outage"]
    assert await titles_found(fresh_url, sort="title") == ["Old outage", "Unrelated"]
