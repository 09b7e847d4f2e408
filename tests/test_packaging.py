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


def test_compose_publishes_to_a_healthy_nats_with_jetstream() -> None:
    services = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
    service, nats = services["case-service"], services["nats"]
    assert "-js" in nats["command"] and "js-enabled-only=true" in " ".join(nats["healthcheck"]["test"])
    assert service["depends_on"]["nats"]["condition"] == "service_healthy"
    assert service["environment"]["EVENT_PUBLISHER"] == "nats"
    assert service["environment"]["NATS_URL"] == "nats://nats:4222"


def test_compose_gives_the_graceful_shutdown_time_to_finish() -> None:
    service = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]["case-service"]
    grace = int(service["stop_grace_period"].removesuffix("s"))
    assert grace > float(service["environment"]["SHUTDOWN_TIMEOUT"]) * 2  # requests, then workers


def test_the_build_context_leaves_out_secrets_and_local_state() -> None:
    ignored = set((ROOT / ".dockerignore").read_text().split())
    assert {".git", ".venv", ".env", "tests", "*.db"} <= ignored


def test_the_image_is_multi_stage_non_root_and_health_checked() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    stages = re.findall(r"^FROM \S+ AS (\w+)", dockerfile, re.M)
    assert len(stages) >= 2
    runtime = dockerfile.split(f"AS {stages[-1]}", 1)[1]
    assert "build-essential" not in runtime and "apt-get install" not in runtime
    assert re.search(r"^USER (?!root)\w+", runtime, re.M)
    assert "HEALTHCHECK" in runtime and "/health" in runtime
    assert "COPY migrations" in runtime and "ALEMBIC_CONFIG" in runtime
    assert "LOG_FORMAT=json" in runtime and "STOPSIGNAL SIGTERM" in runtime
