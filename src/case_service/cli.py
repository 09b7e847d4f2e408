"""`case-service`: serve the API, migrate the database, export the OpenAPI contract, purge expired
idempotency keys."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence
from pathlib import Path

from case_service.config import ConfigurationError, Settings, load_settings


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="case-service", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="run the HTTP API (uvicorn)")
    serve.add_argument("--host", help="bind address (default: HOST, 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port (default: PORT, 8003)")
    serve.add_argument("--workers", type=int, default=1)
    serve.add_argument("--reload", action="store_true", help="restart on code changes (development)")

    migrate = commands.add_parser("migrate", help="apply migrations (alembic upgrade)")
    migrate.add_argument("revision", nargs="?", default="head")

    openapi = commands.add_parser("openapi", help="print or write the OpenAPI contract as YAML")
    openapi.add_argument("--output", type=Path, help="write here instead of standard output")

    commands.add_parser(
        "purge-idempotency-keys",
        help="delete the Idempotency-Key answers older than IDEMPOTENCY_TTL_SECONDS (run it from cron)",
    )

    args = parser.parse_args(argv)
    try:
        settings = load_settings()
        if args.command == "serve":
            _serve(settings, args)
        elif args.command == "migrate":
            _migrate(settings, args.revision)
        elif args.command == "openapi":
            _openapi(args.output)
        elif args.command == "purge-idempotency-keys":
            purged = asyncio.run(purge_idempotency_keys(settings))
            print(f"purged {purged} expired idempotency keys", file=sys.stderr)
    except ConfigurationError as exc:
        print(exc, file=sys.stderr)
        raise SystemExit(2) from None


def _serve(settings: Settings, args: argparse.Namespace) -> None:
    import uvicorn

    from case_service.observability.logging import configure_logging

    # Our logging for uvicorn's records too, and our access log (with route and ids) instead of its.
    configure_logging(settings)
    uvicorn.run(
        "case_service.main:app",
        host=args.host or settings.host,
        port=args.port or settings.port,
        workers=args.workers,
        reload=args.reload,
        log_level=settings.log_level.lower(),
        log_config=None,
        access_log=False,
        # On SIGTERM: stop accepting, let in-flight requests finish within this bound, then run
        # the lifespan shutdown (workers, then the database pool).
        timeout_graceful_shutdown=max(1, round(settings.shutdown_timeout)),
    )


def _migrate(settings: Settings, revision: str) -> None:
    from alembic import command

    from case_service.adapters.migrations import alembic_config

    config = alembic_config(settings)
    config.attributes["skip_logging"] = False
    command.upgrade(config, revision)


def _openapi(output: Path | None) -> None:
    from case_service.openapi import render_openapi

    text = render_openapi()
    if output is None:
        sys.stdout.write(text)
    else:
        output.write_text(text, encoding="utf-8")
        print(f"wrote {output}", file=sys.stderr)


async def purge_idempotency_keys(settings: Settings) -> int:
    from case_service.adapters.database import Database
    from case_service.adapters.unit_of_work import SqlAlchemyUnitOfWorkFactory
    from case_service.service.cases import utc_now
    from case_service.service.idempotency import IdempotencyKeyPurge

    database = Database(settings)
    try:
        purge = IdempotencyKeyPurge(SqlAlchemyUnitOfWorkFactory(database, settings.service_name), utc_now)
        return await purge.purge_expired()
    finally:
        await database.dispose()


if __name__ == "__main__":
    main()

