"""Idempotency keys in the database, on the unit of work's connection (so in its transaction)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, select, update
from sqlalchemy.dialects import postgresql, sqlite

from case_service.adapters.database import LazyConnection
from case_service.adapters.tables import idempotency_keys
from case_service.service.idempotency import ClaimedKey, StoredResponse

# A claim is retried when the row it met vanished or expired under it (a purge, a takeover).
_CLAIM_ATTEMPTS = 3


class SqlIdempotencyStore:
    def __init__(self, conn: LazyConnection) -> None:
        self._conn = conn

    async def claim(
        self, user_id: str, key: str, fingerprint: str, *, now: datetime, expires_at: datetime
    ) -> ClaimedKey | None:
        """Insert the claim, or find who holds the key.

        On PostgreSQL a concurrent claim of the same key waits here, on the primary key, until the
        transaction holding it ends: then the row is either committed with its answer (returned,
        for a replay) or gone with a rollback (this claim takes it). An expired row is taken over.
        """
        dialect_insert = postgresql.insert if self._conn.dialect.name == "postgresql" else sqlite.insert
        where = (idempotency_keys.c.user_id == user_id, idempotency_keys.c.key == key)
        fresh = {"fingerprint": fingerprint, "created_at": now, "expires_at": expires_at}
        for _ in range(_CLAIM_ATTEMPTS):
            inserted = await self._conn.execute(
                dialect_insert(idempotency_keys)
                .values(user_id=user_id, key=key, **fresh)
                .on_conflict_do_nothing(index_elements=[idempotency_keys.c.user_id, idempotency_keys.c.key])
                .returning(idempotency_keys.c.key)
            )
            if inserted.first() is not None:
                return None
            row = (await self._conn.execute(select(idempotency_keys).where(*where))).one_or_none()
            if row is None:
                continue  # purged between the two statements: claim again
            if row.expires_at > now and row.status_code is not None:
                return ClaimedKey(
                    fingerprint=row.fingerprint,
                    response=StoredResponse(row.status_code, row.response_body or "", dict(row.response_headers or {})),
                )
            taken = await self._conn.execute(
                update(idempotency_keys)
                .where(*where, idempotency_keys.c.expires_at <= now)
                .values(status_code=None, response_body=None, response_headers=None, **fresh)
            )
            if taken.rowcount == 1:
                return None
        raise RuntimeError(f"could not claim idempotency key {key!r} of {user_id!r}")

    async def remember(self, user_id: str, key: str, response: StoredResponse) -> None:
        await self._conn.execute(
            update(idempotency_keys)
            .where(idempotency_keys.c.user_id == user_id, idempotency_keys.c.key == key)
            .values(status_code=response.status_code, response_body=response.body, response_headers=dict(response.headers))
        )

    async def purge_expired(self, now: datetime) -> int:
        result = await self._conn.execute(delete(idempotency_keys).where(idempotency_keys.c.expires_at <= now))
        return int(result.rowcount)
