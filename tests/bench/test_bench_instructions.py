"""The requests `bench/instructions.py` counts keep working as the service changes.

The counting itself runs under valgrind and takes minutes; here the measured process's work runs
as it is, without valgrind, on a tiny data set.
"""

from __future__ import annotations

import os
from collections.abc import Callable

import asyncpg
import pytest

from bench import cpu_split, instructions
from bench.dataset import DatasetSpec, ensure_dataset
from bench.outbox import Broker
from bench.run import drop_database
from tests.conftest import POSTGRES_ADMIN_URL

pytestmark = pytest.mark.postgres_only


async def test_the_counted_and_split_requests_are_answered_as_they_should_be_and_a_wrong_answer_stops_them(
    postgres_server: Callable[[], str],
) -> None:
    name = f"fm_cases_bench_instructions_{os.getpid()}"
    try:
        dataset = await ensure_dataset(POSTGRES_ADMIN_URL, name, DatasetSpec(cases=300, users=5), log=lambda _: None)
        user_id, case_id = await instructions._sample_case(dataset.dsn)

        cases_before = await count_cases(dataset.dsn, user_id)

        for kind in sorted(instructions.REQUESTS):
            await instructions._requests(kind, dataset.dsn, user_id, case_id, 3)
        assert await count_cases(dataset.dsn, user_id) == cases_before + 3  # the creates were written

        with pytest.raises(SystemExit, match=r"get: 3 responses of 3, not 200: \[404, 404, 404\]"):
            await instructions._requests("get", dataset.dsn, user_id, "case_0123456789ab", 3)

        # bench/cpu_split.py: one request per user of the search scenario (all 5 here), each round.
        for kind in ("search", "list"):
            splits = await cpu_split.measure(kind, dataset.dsn, rounds=2)
            assert [split.requests for split in splits] == [5, 5]
            assert all(split.wall_ms > 0 and split.service_ms > 0 and split.postgres_ms >= 0 for split in splits)
        with pytest.raises(SystemExit, match=r"search: answers other than 200: \[422\]"):
            await cpu_split.measure("search", dataset.dsn, term='"unbalanced', rounds=1)
    finally:
        await drop_database(POSTGRES_ADMIN_URL, name)


async def count_cases(dsn: str, user_id: str) -> int:
    conn = await asyncpg.connect(dsn)
    try:
        return int(await conn.fetchval("SELECT count(*) FROM cases WHERE user_id = $1", user_id))
    finally:
        await conn.close()


async def test_each_counted_relay_cycle_publishes_and_marks_its_batch(
    postgres_server: Callable[[], str], nats_url: str
) -> None:
    name = f"fm_cases_bench_relay_{os.getpid()}"
    broker = Broker.for_run()
    try:
        dataset = await ensure_dataset(POSTGRES_ADMIN_URL, name, DatasetSpec(cases=300, users=5), log=lambda _: None)
        await instructions._write_pending(dataset.dsn, 25)
        assert await instructions._pending(dataset.dsn) == 25

        await instructions._relay_cycles(dataset.dsn, broker.stream, broker.prefix, 3, 1)
        assert await instructions._pending(dataset.dsn) == 22
        await instructions._relay_cycles(dataset.dsn, broker.stream, broker.prefix, 1, 20)  # as `drain` runs them
        assert await instructions._pending(dataset.dsn) == 2
        await instructions._relay_cycles(dataset.dsn, broker.stream, broker.prefix, 2, 1)
        assert await instructions._pending(dataset.dsn) == 0
    finally:
        await broker.delete()
        await drop_database(POSTGRES_ADMIN_URL, name)
