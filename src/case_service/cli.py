"""`case-service`: serve the API, run the outbox relay, consume platform events, manage dead letters,
migrate the database, export the OpenAPI contract, purge expired idempotency keys and old inbox rows."""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from case_service.config import ConfigurationError, Settings, load_settings
from case_service.domain.errors import DomainError

if TYPE_CHECKING:
    from case_service.service.platform_events import PlatformEventService


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="case-service", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="run the HTTP API (uvicorn)")
    serve.add_argument("--host", help="bind address (default: HOST, 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port (default: PORT, 8003)")
    serve.add_argument("--workers", type=int, default=1)
    serve.add_argument("--reload", action="store_true", help="restart on code changes (development)")

    commands.add_parser(
        "consume",
        help="consume platform events from EVENT_CONSUMER_BROKER until SIGINT/SIGTERM "
        "(whatever EVENT_CONSUMER_ENABLED says: that switch is for the API process)",
    )

    dead_letters = commands.add_parser("dead-letters", help="list, replay or delete dead-lettered events")
    letters = dead_letters.add_subparsers(dest="action", required=True)
    listing = letters.add_parser("list", help="print dead letters as JSON, newest first")
    listing.add_argument("--limit", type=int, default=50)
    listing.add_argument("--offset", type=int, default=0)
    replay = letters.add_parser("replay", help="apply a dead letter again (through the inbox: once)")
    replay.add_argument("id", type=int)
    delete = letters.add_parser("delete", help="discard a dead letter")
    delete.add_argument("id", type=int)

    migrate = commands.add_parser("migrate", help="apply migrations (alembic upgrade)")
    migrate.add_argument("revision", nargs="?", default="head")

    commands.add_parser("relay", help="run the outbox relay alone (publishes to EVENT_PUBLISHER)")

    openapi = commands.add_parser("openapi", help="print or write the OpenAPI contract as YAML")
    openapi.add_argument("--output", type=Path, help="write here instead of standard output")

    commands.add_parser(
        "purge-idempotency-keys",
        help="delete the Idempotency-Key answers older than IDEMPOTENCY_TTL_SECONDS (run it from cron)",
    )
    commands.add_parser(
        "purge-inbox",
        help="delete inbox rows completed more than INBOX_RETENTION_SECONDS ago (the relay's leader also does it)",
    )

    args = parser.parse_args(argv)
    try:
        settings = load_settings()
        if args.command == "serve":
            _serve(settings, args)
        elif args.command == "consume":
            asyncio.run(_consume(settings))
        elif args.command == "dead-letters":
            asyncio.run(_dead_letters(settings, args))
        elif args.command == "migrate":
            _migrate(settings, args.revision)
        elif args.command == "relay":
            _relay(settings)
        elif args.command == "openapi":
            _openapi(args.output)
        elif args.command == "purge-idempotency-keys":
            purged = asyncio.run(purge_idempotency_keys(settings))
            print(f"purged {purged} expired idempotency keys", file=sys.stderr)
        elif args.command == "purge-inbox":
            purged = asyncio.run(purge_inbox(settings))
            print(f"purged {purged} completed inbox rows", file=sys.stderr)
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


async def _consume(settings: Settings) -> None:
    from case_service.adapters.database import Database
    from case_service.adapters.migrations import upgrade_to_head
    from case_service.main import configure_logging
    from case_service.observability.metrics import Metrics
    from case_service.workers.consumer import build_consumer

    configure_logging(settings)
    database = Database(settings)
    try:
        if settings.auto_migrate:
            await upgrade_to_head(database)
        consumer = build_consumer(settings, database, Metrics())
        stopping = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stopping.set)
        await consumer.start()
        subjects = ", ".join(settings.event_consumer_subjects)
        print(f"consuming {subjects} from {settings.event_consumer_broker}", file=sys.stderr)
        await stopping.wait()
        await consumer.stop(settings.shutdown_timeout)
    finally:
        await database.dispose()


async def _dead_letters(settings: Settings, args: argparse.Namespace) -> None:
    from case_service.api.internal_schemas import DeadLetterRead, EventReceipt

    async with _event_service(settings) as events:
        try:
            if args.action == "list":
                page = await events.dead_letters(limit=max(1, args.limit), offset=max(0, args.offset))
                letters = [DeadLetterRead.from_domain(dead).model_dump(mode="json") for dead in page.dead_letters]
                output: Any = {"dead_letters": letters, "total": page.total}
            elif args.action == "replay":
                output = EventReceipt.from_domain(await events.replay(args.id)).model_dump(mode="json")
            else:
                await events.delete_dead_letter(args.id)
                output = {"deleted": args.id}
        except DomainError as exc:
            print(f"{exc.code}: {exc.message}", file=sys.stderr)
            raise SystemExit(1) from None
    print(json.dumps(output, indent=2))


@asynccontextmanager
async def _event_service(settings: Settings) -> AsyncIterator[PlatformEventService]:
    from case_service.adapters.database import Database
    from case_service.adapters.unit_of_work import SqlAlchemyUnitOfWorkFactory
    from case_service.service.cases import utc_now
    from case_service.service.platform_events import PlatformEventService, event_policy

    database = Database(settings)
    try:
        factory = SqlAlchemyUnitOfWorkFactory(database, settings.service_name)
        yield PlatformEventService(factory, event_policy(settings), utc_now)
    finally:
        await database.dispose()


def _migrate(settings: Settings, revision: str) -> None:
    from alembic import command

    from case_service.adapters.migrations import alembic_config

    config = alembic_config(settings)
    config.attributes["skip_logging"] = False
    command.upgrade(config, revision)


def _relay(settings: Settings) -> None:
    from case_service.observability.logging import configure_logging
    from case_service.workers.relay import run_standalone

    configure_logging(settings)
    asyncio.run(run_standalone(settings))


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


async def purge_inbox(settings: Settings) -> int:
    from case_service.adapters.database import Database
    from case_service.adapters.unit_of_work import SqlAlchemyUnitOfWorkFactory
    from case_service.service.cases import utc_now
    from case_service.service.platform_events import InboxPurge

    database = Database(settings)
    try:
        uow_factory = SqlAlchemyUnitOfWorkFactory(database, settings.service_name)
        return await InboxPurge.for_settings(uow_factory, utc_now, settings).purge()
    finally:
        await database.dispose()


if __name__ == "__main__":
    main()

