"""The benchmark's data set follows new migrations by upgrading in place, not by a rebuild, and is
read into memory with a word on whether PostgreSQL's own cache can hold it."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable

import asyncpg
import pytest
from alembic import command

from bench.dataset import DatasetSpec, Warmed, _label, ensure_dataset, head_revision, prewarm
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


async def test_prewarm_reads_the_server_cache_size_and_says_what_to_do_when_the_data_set_exceeds_it(
    postgres_server: Callable[[], str],
) -> None:
    name = f"fm_cases_bench_prewarm_{os.getpid()}"
    try:
        dataset = await ensure_dataset(POSTGRES_ADMIN_URL, name, TINY, log=lambda _: None)
        warmed = await prewarm(dataset)
        conn = await asyncpg.connect(dataset.dsn)
        try:
            shown = await conn.fetchval("SELECT pg_size_bytes(current_setting('shared_buffers'))")
            size = await conn.fetchval("SELECT pg_database_size(current_database())")
        finally:
            await conn.close()
        assert (warmed.shared_buffers, warmed.size) == (shown, size)
        assert warmed.fits and warmed.advice() is None  # a few MB fit even the default 128 MB
    finally:
        await drop_database(POSTGRES_ADMIN_URL, name)

    small = Warmed(seconds=12.0, shared_buffers=128 * 2**20, size=int(2.9 * 2**30))
    assert not small.fits
    assert small.describe() == "shared_buffers 128 MiB, data set 2.9 GiB: read into the OS page cache only in 12 s"
    assert "ALTER SYSTEM SET shared_buffers = '5GB'" in (small.advice() or "")
