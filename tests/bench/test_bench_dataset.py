"""The benchmark's data set follows new migrations by upgrading in place, not by a rebuild."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable

import asyncpg
import pytest
from alembic import command

from bench.dataset import DatasetSpec, _label, ensure_dataset, head_revision
from bench.run import drop_database
from case_service.adapters.migrations import alembic_config
from case_service.config import load_settings
from tests.conftest import POSTGRES_ADMIN_URL

pytestmark = pytest.mark.postgres_only
TINY = DatasetSpec(cases=300, users=5)


async def test_a_data_set_at_an_older_schema_is_upgraded_and_keeps_its_rows(postgres_server: Callable[[], str]) -> None:
    name = f"fm_cases_bench_upgrade_{os.getpid()}"
    said: list[str] = []
    try:
        dataset = await ensure_dataset(POSTGRES_ADMIN_URL, name, TINY, log=said.append)
        assert dataset.built_seconds is not None
        config = alembic_config(load_settings(database_url=dataset.sqlalchemy_url))
        await asyncio.to_thread(command.downgrade, config, "0007")
        admin = await asyncpg.connect(POSTGRES_ADMIN_URL)
        try:
            await admin.execute(f"COMMENT ON DATABASE \"{name}\" IS '{_label('0007', TINY)}'")
        finally:
            await admin.close()

        again = await ensure_dataset(POSTGRES_ADMIN_URL, name, TINY, log=said.append)

        assert again.built_seconds is None and again.revision == head_revision()
        assert said[-1] == f"dataset: upgrading {name} from schema 0007 to {head_revision()}"
        conn = await asyncpg.connect(again.dsn)
        try:
            assert await conn.fetchval("SELECT count(*) FROM cases") == TINY.cases
            assert await conn.fetchval("SELECT version_num FROM alembic_version") == head_revision()
        finally:
            await conn.close()
        reused = await ensure_dataset(POSTGRES_ADMIN_URL, name, TINY, log=said.append)
        assert reused.built_seconds is None and said[-1].startswith("dataset: reusing")
    finally:
        await drop_database(POSTGRES_ADMIN_URL, name)
