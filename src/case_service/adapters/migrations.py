"""Running Alembic from inside the service (auto-migrate at start) and from the CLI."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy.engine import Connection

from case_service.adapters.database import Database
from case_service.config import ConfigurationError, Settings


def find_alembic_ini(settings: Settings) -> Path:
    """ALEMBIC_CONFIG when set; else `alembic.ini` in the working directory or the source checkout."""
    candidates = [settings.alembic_config] if settings.alembic_config else []
    candidates += [Path.cwd() / "alembic.ini", Path(__file__).resolve().parents[3] / "alembic.ini"]
    for candidate in candidates:
        if candidate is not None and candidate.is_file():
            return candidate
    raise ConfigurationError(
        "Invalid configuration:\n  ALEMBIC_CONFIG: alembic.ini was not found; set ALEMBIC_CONFIG to its path"
    )


def alembic_config(settings: Settings) -> Config:
    config = Config(str(find_alembic_ini(settings)))
    config.attributes["database_url"] = settings.database_url
    config.attributes["skip_logging"] = True
    return config


async def upgrade_to_head(database: Database) -> None:
    """Apply pending migrations on one write transaction (concurrent starters queue, then no-op)."""
    config = alembic_config(database.settings)

    def _upgrade(connection: Connection) -> None:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")

    async with database.connection(write=True) as conn:
        await conn.run_sync(_upgrade)
        await conn.commit()
