"""The lifespan starts the background workers after the database opens and stops them before it closes."""

from __future__ import annotations

import pytest
from fastapi import FastAPI

from case_service import main as main_module
from case_service.config import Settings
from case_service.main import create_app


class RecordingWorker:
    def __init__(self, name: str, journal: list[str], app_holder: dict[str, FastAPI]) -> None:
        self.name = name
        self.journal = journal
        self.app_holder = app_holder

    async def start(self) -> None:
        self.journal.append(f"start {self.name}")

    async def stop(self, timeout: float) -> None:
        # The database must still be usable while a worker finishes its batch.
        database = self.app_holder["app"].state.database
        async with database.connection(write=False) as conn:
            await conn.exec_driver_sql("SELECT 1")
        self.journal.append(f"stop {self.name} within {timeout:g}s")


async def test_workers_start_in_order_and_stop_in_reverse_on_a_live_database(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    journal: list[str] = []
    holder: dict[str, FastAPI] = {}
    workers = [RecordingWorker(name, journal, holder) for name in ("relay", "consumer")]
    monkeypatch.setattr(main_module, "background_workers", lambda settings, database, metrics: workers)
    app = create_app(settings.model_copy(update={"shutdown_timeout": 3.0}))
    holder["app"] = app
    async with app.router.lifespan_context(app):
        assert journal == ["start relay", "start consumer"]
        assert app.state.workers == workers
    assert journal[2:] == ["stop consumer within 3s", "stop relay within 3s"]


async def test_each_app_counts_in_its_own_registry(settings: Settings) -> None:
    first, second = create_app(settings), create_app(settings)
    first.state.metrics.outbox_publish_attempts.inc(3)
    assert first.state.metrics.registry.get_sample_value("case_outbox_publish_attempts_total") == 3
    assert second.state.metrics.registry.get_sample_value("case_outbox_publish_attempts_total") == 0
