"""Engine construction and transactions, with SQLite's single-writer rule made explicit."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from types import TracebackType
from typing import Any, TypeVar

import asyncpg
from sqlalchemy import CursorResult, Executable, event, text
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from case_service.adapters.json_text import load_json
from case_service.config import SQLITE_DRIVER, Settings
from case_service.domain.errors import DatabaseUnavailable

logger = logging.getLogger(__name__)

T = TypeVar("T")

# What asyncpg raises, used directly (`read_through_driver`), when its connection is lost or a
# statement outlives DATABASE_COMMAND_TIMEOUT. A server that ends the connection while a query
# starts can leave asyncpg's protocol in a state it reports as an InternalClientError.
DRIVER_CONNECTION_ERRORS = (
    OSError,
    TimeoutError,
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.InternalClientError,
)
# Failures that mean "the database is not there right now", not "this request is wrong": refused or
# reset connections, connect and statement timeouts, an exhausted pool, a connection that died.
_UNREACHABLE = (PoolTimeout, OperationalError, InterfaceError, *DRIVER_CONNECTION_ERRORS)


class Database:
    """Owns the engine. Hands out SQLAlchemy's connections (`connection`) and, for plain reads on
    PostgreSQL, asyncpg's own (`driver_connection`).

    SQLite allows one writer at a time. Write transactions start with `BEGIN IMMEDIATE` so two
    writers never both read and then fail to upgrade their lock, and within one process they queue
    on an asyncio lock instead of spinning on `database is locked`. Reads run concurrently (WAL).

    PostgreSQL's pool is entered through a first-come, first-served gate as wide as the pool.
    SQLAlchemy's pool queue lets a new request take a connection that was just returned for a
    request already waiting, which then waits again at the back: under load a few requests
    starved for seconds (p99 0.3-0.5 s at a p50 of 33 ms, and 503s after the pool timeout).
    """

    def __init__(self, settings: Settings, url: str | None = None) -> None:
        """`url`: another database than DATABASE_URL, with the same pool settings (a read replica)."""
        self.settings = settings
        self.url = url or settings.database_url
        self.is_sqlite = self.url.startswith(SQLITE_DRIVER)
        self.engine: AsyncEngine = _create_engine(settings, self.url)
        self._sqlite_write_lock = asyncio.Lock() if self.is_sqlite else None
        self._pool_gate = (
            None if self.is_sqlite else _PoolGate(settings.database_pool_size, settings.database_connect_timeout)
        )
        self._outbox_listeners: list[Callable[[], None]] = []

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @contextlib.asynccontextmanager
    async def connection(
        self, *, write: bool, snapshot: bool = False, single_statement: bool = False
    ) -> AsyncIterator[AsyncConnection]:
        """A connection with an open transaction; the caller commits, anything else rolls back.

        `snapshot`: all statements of the transaction read one consistent state. SQLite's WAL read
        transactions already do; PostgreSQL needs REPEATABLE READ (its default reads each
        statement's own snapshot).
        `single_statement`: each statement the caller runs commits on its own on PostgreSQL, without
        BEGIN and COMMIT: for a write that is one statement, or whose statements stand alone.
        """
        lock = self._sqlite_write_lock if write and self._sqlite_write_lock else contextlib.nullcontext()
        # PostgreSQL's READ COMMITTED gives each statement its own snapshot anyway, so a plain read
        # gains nothing from BEGIN/ROLLBACK but two round trips: it runs without a transaction.
        autocommit = (single_statement or not write) and not snapshot and not self.is_sqlite
        try:
            async with lock, self._checkout() as conn:
                if self.is_sqlite and write:
                    conn = await conn.execution_options(sqlite_begin="IMMEDIATE")
                elif snapshot and not self.is_sqlite:
                    conn = await conn.execution_options(isolation_level="REPEATABLE READ")
                elif autocommit:
                    conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
                if not autocommit:
                    await conn.begin()
                try:
                    yield conn
                finally:
                    if not autocommit and conn.in_transaction() and not conn.invalidated:
                        await conn.rollback()
        except _UNREACHABLE as exc:
            raise _unavailable(exc) from exc
        except DBAPIError as exc:
            if exc.connection_invalidated:
                raise _unavailable(exc) from exc
            raise

    @contextlib.asynccontextmanager
    async def _checkout(self) -> AsyncIterator[AsyncConnection]:
        """A pooled connection; on PostgreSQL, in the order the callers asked for one."""
        async with self._gate_place(), self.engine.connect() as conn:
            yield conn

    @contextlib.asynccontextmanager
    async def driver_connection(self) -> AsyncIterator[asyncpg.Connection]:
        """PostgreSQL: a pooled connection as asyncpg's own, outside any transaction, for reads by
        the driver alone (`LazyConnection.read_by_driver`).

        No SQLAlchemy connection is made around it: making one, putting it in autocommit and
        closing it cost a GET about 100 µs of CPU (bench/PROFILE.md §19.1).
        """
        try:
            async with self._gate_place():
                pooled = await self.engine.raw_connection()
                try:
                    yield pooled.driver_connection
                except DRIVER_CONNECTION_ERRORS as exc:
                    pooled.invalidate(exc)  # as SQLAlchemy does: the pool never hands it out again
                    raise
                finally:
                    # Back to the pool without I/O: nothing began a transaction for its reset to roll back.
                    pooled.close()
        except _UNREACHABLE as exc:
            raise _unavailable(exc) from exc

    def _gate_place(self) -> contextlib.AbstractAsyncContextManager[None]:
        return contextlib.nullcontext() if self._pool_gate is None else self._pool_gate

    def on_outbox_written(self, listener: Callable[[], None]) -> Callable[[], None]:
        """Call `listener` after each commit that wrote outbox rows through this object (the
        in-process wake-up of a relay; other processes learn of them by NOTIFY or by polling).
        Returns the function that unsubscribes."""
        self._outbox_listeners.append(listener)
        return lambda: self._outbox_listeners.remove(listener)

    def outbox_written(self) -> None:
        for listener in list(self._outbox_listeners):
            listener()

    async def ping(self) -> None:
        async with self._checkout() as conn:
            await conn.execute(text("SELECT 1"))

    async def dispose(self) -> None:
        await self.engine.dispose()


class _PoolGate:
    """A place in the pool's first-come, first-served line (see `Database`), held while inside."""

    def __init__(self, places: int, timeout: float) -> None:
        self._places = asyncio.Semaphore(places)
        self._timeout = timeout

    async def __aenter__(self) -> None:
        if self._places.locked():  # in line behind others: for at most the connect timeout
            async with asyncio.timeout(self._timeout):
                await self._places.acquire()
        else:  # a free place is taken at once, without arming a timer (2% of a GET's instructions)
            await self._places.acquire()

    async def __aexit__(self, *exc_info: object) -> None:
        self._places.release()


class LazyConnection:
    """The one connection of a unit of work or a reader, taken when its first statement needs it.

    A transaction (any write, or a read of one snapshot) begins on entering, as
    `Database.connection` gives it. A plain read takes nothing until its first statement. On
    PostgreSQL, a read by asyncpg alone (`read_by_driver`) then takes the pool's connection as it is
    (`Database.driver_connection`); a statement for SQLAlchemy (`execute`, `sqlalchemy()`) gets
    SQLAlchemy's connection, which the rest of the read keeps. Either way it holds one pool place.
    """

    def __init__(self, database: Database, *, write: bool, snapshot: bool = False) -> None:
        self._database = database
        self._write = write
        self._snapshot = snapshot
        self.dialect = database.engine.dialect
        self._held: contextlib.AbstractAsyncContextManager[Any] | None = None
        self._conn: AsyncConnection | None = None
        self._driver: asyncpg.Connection | None = None

    async def __aenter__(self) -> LazyConnection:
        if self._write or self._snapshot:
            await self.sqlalchemy()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> bool | None:
        held, self._held, self._conn, self._driver = self._held, None, None, None
        return None if held is None else await held.__aexit__(exc_type, exc, tb)

    def in_transaction(self) -> bool:
        """Whether the statements run in one transaction. A plain read on PostgreSQL runs each on its
        own; SQLite reads in a transaction of one snapshot."""
        return self._write or self._snapshot or self._database.is_sqlite

    async def sqlalchemy(self) -> AsyncConnection:
        """SQLAlchemy's connection: the one taken, or a new one."""
        if self._conn is None:
            if self._held is not None:  # the driver's connection goes back first: one place per unit
                await self.__aexit__(None, None, None)
            self._conn = await self._take(self._database.connection(write=self._write, snapshot=self._snapshot))
        return self._conn

    async def execute(self, statement: Executable, parameters: Any = None) -> CursorResult[Any]:
        return await (await self.sqlalchemy()).execute(statement, parameters)

    async def read_by_driver(self, read: Callable[[asyncpg.Connection], Awaitable[T]]) -> T:
        """`read(driver)` on asyncpg's connection, for a plain read on PostgreSQL."""
        assert not self.in_transaction(), "a read by the driver would step around the transaction"
        if self._conn is not None:
            return await read_through_driver(self._conn, read)
        if self._driver is None:
            self._driver = await self._take(self._database.driver_connection())
        return await read(self._driver)

    async def _take(self, connection: contextlib.AbstractAsyncContextManager[T]) -> T:
        entered = await connection.__aenter__()
        self._held = connection  # only once entered: leaving the unit then leaves it
        return entered


async def read_through_driver(conn: AsyncConnection, read: Callable[[asyncpg.Connection], Awaitable[T]]) -> T:
    """`read(driver)` on the asyncpg connection under `conn`, for a hot read on PostgreSQL.

    Only outside a transaction (a plain read, in autocommit): SQLAlchemy has begun nothing on the
    connection that this could step around. Around small statements, or many rows, SQLAlchemy's
    execution layer cost more CPU than the statement (bench/PROFILE.md §8.2, §15). The connection
    has SQLAlchemy's jsonb codec, so jsonb arrives parsed."""
    raw = await conn.get_raw_connection()
    try:
        return await read(raw.driver_connection)
    except DRIVER_CONNECTION_ERRORS as exc:
        # As SQLAlchemy does after its own statements fail so: the pool never hands it out again.
        await conn.invalidate(exc)
        raise


def _unavailable(exc: BaseException) -> DatabaseUnavailable:
    cause = exc.orig if isinstance(exc, DBAPIError) and exc.orig is not None else exc
    reason = type(cause).__name__
    logger.warning("database unavailable: %s", reason)
    return DatabaseUnavailable(reason)


def _create_engine(settings: Settings, url: str) -> AsyncEngine:
    kwargs: dict[str, Any] = {}
    if url.startswith(SQLITE_DRIVER):
        kwargs["connect_args"] = {"timeout": 30}
    else:
        kwargs.update(
            # A fixed pool, no overflow: under asyncio, returned connections can fill the idle
            # queue before the waiting requests take them, and every overflow connection that
            # finds the queue full is closed, to be reopened (TLS attempt, type introspection)
            # by the next request. At 64 concurrent requests that churn cost more than the queries.
            pool_size=settings.database_pool_size,
            max_overflow=0,
            pool_timeout=settings.database_connect_timeout,
            # No pool_pre_ping: on asyncpg it costs BEGIN, a query and ROLLBACK at every checkout
            # (three round trips, more than a whole GET). A connection the server dropped fails
            # once (503 database_unavailable) and SQLAlchemy then invalidates the whole pool.
            # Bounded connect and statement times: a dead or hung server fails the request, it
            # never holds it (asyncpg cancels a statement after `command_timeout`).
            connect_args={
                "timeout": settings.database_connect_timeout,
                "command_timeout": settings.database_command_timeout,
            },
        )
    # JSON columns (metadata, payloads) parsed by orjson where it reads them as json.loads would.
    engine = create_async_engine(url, json_deserializer=load_json, **kwargs)
    if url.startswith(SQLITE_DRIVER):
        _configure_sqlite(engine)
    return engine


def _configure_sqlite(engine: AsyncEngine) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let us emit BEGIN ourselves (the driver's implicit transactions ignore IMMEDIATE).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        for pragma in (
            "PRAGMA journal_mode=WAL",
            "PRAGMA synchronous=NORMAL",
            "PRAGMA foreign_keys=ON",
            "PRAGMA busy_timeout=30000",
        ):
            cursor.execute(pragma)
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Any) -> None:
        mode = conn.get_execution_options().get("sqlite_begin", "DEFERRED")
        conn.exec_driver_sql(f"BEGIN {mode}")
