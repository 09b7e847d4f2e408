"""Settings: documented in .env.example, refused with a message that names the setting."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from case_service.config import ConfigurationError, Settings, load_settings

ROOT = Path(__file__).resolve().parents[1]


def test_every_setting_is_documented_in_env_example() -> None:
    documented = set(re.findall(r"^#?\s*([A-Z][A-Z0-9_]+)=", (ROOT / ".env.example").read_text(), re.M))
    assert {name.upper() for name in Settings.model_fields} <= documented


def test_postgres_urls_get_the_async_driver() -> None:
    settings = load_settings(_env_file=None, database_url="postgres://u@db:5432/cases")
    assert settings.database_url == "postgresql+asyncpg://u@db:5432/cases"


def test_the_read_url_is_optional_and_normalized_like_the_primary() -> None:
    assert load_settings(_env_file=None).database_read_url is None
    assert load_settings(_env_file=None, database_read_url=" ").database_read_url is None
    replica = load_settings(_env_file=None, database_read_url="postgresql://u@replica/cases")
    assert replica.database_read_url == "postgresql+asyncpg://u@replica/cases"
    with pytest.raises(ConfigurationError, match="DATABASE_READ_URL"):
        load_settings(_env_file=None, database_read_url="mysql://x")


@pytest.mark.parametrize(
    ("overrides", "named"),
    [
        ({"port": "eighty"}, "PORT"),
        ({"database_url": "mysql://x"}, "DATABASE_URL"),
        ({"default_page_size": 500}, "DEFAULT_PAGE_SIZE"),
        ({"log_level": "LOUD"}, "LOG_LEVEL"),
    ],
)
def test_invalid_settings_are_refused_by_name(overrides: dict[str, object], named: str) -> None:
    with pytest.raises(ConfigurationError) as error:
        load_settings(_env_file=None, **overrides)
    assert named in str(error.value)


def test_the_cli_stops_with_a_clear_message_on_bad_configuration(tmp_path: Path) -> None:
    env = {**os.environ, "PORT": "not-a-port"}
    result = subprocess.run(
        [sys.executable, "-m", "case_service.cli", "serve"],
        env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 2
    assert "PORT" in result.stderr and "Traceback" not in result.stderr
