"""Who may relay: exactly one relay per database publishes at a time.

PostgreSQL: a session-level advisory lock taken on a dedicated connection (not one of the pool's).
PostgreSQL releases it when that session ends, so a replica that dies, or whose connection is cut,
frees it and a standby's next try takes over. The leader checks its connection every
`check_interval` and gives up publishing as soon as the check fails or the connection closes; the
server's TCP keepalives on that session (about 11 s) are longer than that check, so by the time the
server frees the lock for someone else the old leader has already stopped. The same connection
LISTENs for the outbox NOTIFY.

SQLite: an exclusive `flock` on `<database file>.relay-lock`, held while the relay runs. The lock
file names its holder, which the stats read.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
from collections.abc import Callable
from typing import Protocol

import asyncpg
from sqlalchemy import text

from case_service.adapters.database import Database
from case_service.adapters.outbox import NOTIFY_CHANNEL

logger = logging.getLogger(__name__)

# The relays' advisory lock. Below 2**31 so pg_locks shows it whole in `objid` (classid 0).
RELAY_LOCK_KEY = 0x0CA5_0B0C
# How long the server waits on a silent peer before closing the session (and freeing the lock):
# first probe after 5 s idle, then every 2 s, 3 misses.
_KEEPALIVES = {"tcp_keepalives_idle": "5", "tcp_keepalives_interval": "2", "tcp_keepalives_count": "3"}


class Leadership(Protocol):
    @property
    def lost(self) -> asyncio.Event:
        """Set when leadership that was held is gone (the relay must stop publishing at once)."""

    async def try_acquire(self) -> bool:
        """Take the leadership if nobody holds it; never waits for it."""

    async def release(self) -> None:
        """Give the leadership up (and everything held for it)."""


def leadership_for(database: Database, identity: str, check_interval: float, on_notify: Callable[[], None]) -> Leadership:
    if database.dialect == "postgresql":
        return PostgresLeadership(database, identity, check_interval, on_notify)
    return SqliteLeadership(_sqlite_lock_path(database), identity)


class PostgresLeadership:
    def __init__(
        self, database: Database, identity: str, check_interval: float, on_notify: Callable[[], None]
    ) -> None:
        url = database.engine.url.set(drivername="postgresql")
        self._dsn = url.render_as_string(hide_password=False)
        self._connect_timeout = database.settings.database_connect_timeout
        self._identity = identity
        self._check_interval = check_interval
        self._on_notify = on_notify
        self._conn: asyncpg.Connection | None = None
        self._watch: asyncio.Task[None] | None = None
        self._lost = asyncio.Event()

    @property
    def lost(self) -> asyncio.Event:
        return self._lost

    async def try_acquire(self) -> bool:
        try:
            if self._conn is None or self._conn.is_closed():
                self._conn = await asyncpg.connect(
                    self._dsn,
                    timeout=self._connect_timeout,
                    server_settings={"application_name": self._identity[:63], **_KEEPALIVES},
                )
            conn = self._conn
            acquired = await asyncio.wait_for(
                conn.fetchval("SELECT pg_try_advisory_lock($1)", RELAY_LOCK_KEY), timeout=self._connect_timeout
            )
            if not acquired:
                return False
            self._lost = asyncio.Event()
            conn.add_termination_listener(lambda _conn: self._lost.set())
            await conn.add_listener(NOTIFY_CHANNEL, lambda *_args: self._on_notify())
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError) as exc:
            logger.warning("relay leadership: cannot reach PostgreSQL: %s: %s", type(exc).__name__, exc)
            await self._drop_connection()
            return False
        self._watch = asyncio.create_task(self._watch_connection(conn), name="relay-leadership-watch")
        return True

    async def _watch_connection(self, conn: asyncpg.Connection) -> None:
        """Leadership lasts only while its connection demonstrably works."""
        try:
            while not self._lost.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._lost.wait(), timeout=self._check_interval)
                    return
                await asyncio.wait_for(conn.fetchval("SELECT 1"), timeout=self._check_interval)
        except Exception as exc:
            logger.warning("relay leadership lost: %s: %s", type(exc).__name__, exc)
        finally:
            self._lost.set()

    async def release(self) -> None:
        self._lost.set()
        if self._watch is not None:
            await asyncio.gather(self._watch, return_exceptions=True)
            self._watch = None
        await self._drop_connection()

    async def _drop_connection(self) -> None:
        # Closing the session frees the advisory lock; no unlock round trip needed.
        conn, self._conn = self._conn, None
        if conn is None or conn.is_closed():
            return
        try:
            await asyncio.wait_for(conn.close(), timeout=self._check_interval)
        except Exception:
            conn.terminate()


class SqliteLeadership:
    def __init__(self, lock_path: str | None, identity: str) -> None:
        self._path = lock_path
        self._identity = identity
        self._fd: int | None = None
        self._lost = asyncio.Event()

    @property
    def lost(self) -> asyncio.Event:
        return self._lost

    async def try_acquire(self) -> bool:
        if self._path is None:  # an in-memory database lives in this process only
            return True
        fd = os.open(self._path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        os.ftruncate(fd, 0)
        os.write(fd, self._identity.encode())
        self._fd = fd
        self._lost = asyncio.Event()
        return True

    async def release(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            os.ftruncate(fd, 0)
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)


async def active_relay(database: Database) -> str | None:
    """The identity of the relay holding the leadership of this database, None when none does."""
    if database.dialect == "postgresql":
        query = text(
            "SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
            "WHERE l.locktype = 'advisory' AND l.granted AND l.classid = 0 AND l.objid = :key AND l.objsubid = 1 "
            "AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())"
        )
        async with database.connection(write=False) as conn:
            return (await conn.execute(query, {"key": RELAY_LOCK_KEY})).scalar_one_or_none()
    path = _sqlite_lock_path(database)
    if path is None or not os.path.exists(path):
        return None
    fd = os.open(path, os.O_RDONLY)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return os.read(fd, 256).decode(errors="replace") or "unknown"
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)


def _sqlite_lock_path(database: Database) -> str | None:
    name = database.engine.url.database
    if not name or name == ":memory:" or name.startswith("file::memory:"):
        return None
    return os.path.abspath(name) + ".relay-lock"
