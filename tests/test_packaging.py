"""Container files, checked as text since no Docker engine runs here."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def test_compose_runs_migrations_before_the_service_on_a_healthy_postgres() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    service, migrate, postgres = services["case-service"], services["migrate"], services["postgres"]
    assert "healthcheck" in postgres
    assert service["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert service["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    assert migrate["command"] == ["case-service", "migrate"]
    assert migrate["depends_on"]["postgres"]["condition"] == "service_healthy"
    for name in ("case-service", "migrate"):
        assert services[name]["environment"]["DATABASE_URL"].startswith("postgresql+asyncpg://")
    assert service["environment"]["AUTO_MIGRATE"] == "false"
    assert service["ports"] == ["8003:8003"]


def test_the_image_is_multi_stage_non_root_and_health_checked() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    stages = re.findall(r"^FROM \S+ AS (\w+)", dockerfile, re.M)
    assert len(stages) >= 2
    runtime = dockerfile.split(f"AS {stages[-1]}", 1)[1]
    assert "build-essential" not in runtime and "apt-get install" not in runtime
    assert re.search(r"^USER (?!root)\w+", runtime, re.M)
    assert "HEALTHCHECK" in runtime and "/health" in runtime
    assert "COPY migrations" in runtime and "ALEMBIC_CONFIG" in runtime
