"""``Idempotency-Key`` for every POST, through one wrapper (:func:`run`): the first response is stored
in the same transaction as the change (``KeySlot.save``, or the single statement of
``store/postgres.py``), so a replay returns it and changes nothing; the same key with a different
request is a 409.

Concurrent first attempts with one key: on PostgreSQL the second ``INSERT`` of the key waits on the
first transaction's unique-index entry and then finds the key taken, so its own work is rolled back
and it answers with the stored response; on SQLite writers are serialised anyway. Refusals (409, 422)
of the work are stored too, so a replay gets the same answer, as a client retrying would expect.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine

from sync.errors import Conflict, SyncError
from sync.inventory.db import write_tx
from sync.inventory.tables import idempotency_keys

K = idempotency_keys.c
KEEP_FOR = timedelta(hours=24)


@dataclass(frozen=True, slots=True)
class Outcome:
    status: int
    body: dict[str, Any]
    replayed: bool = False


class KeyTaken(Exception):
    """Another request committed this key first; answer with its stored response."""


def fingerprint(method: str, path: str, payload: Any) -> str:
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(f"{method} {path}\n{canonical}".encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class KeySlot:
    """A key to store with a write's answer, in the write's own transaction (or statement)."""

    key: str
    fingerprint: str
    status: int

    def save(self, conn: Connection, body: dict[str, Any]) -> None:
        """Store ``body`` under the key; KeyTaken if another request stored it first."""
        if not _save(conn, self.key, self.fingerprint, self.status, body):
            raise KeyTaken


class Store(Protocol):
    """What :func:`run` needs of a store (``sync.inventory.store``)."""

    async def stored(self, key: str) -> Any: ...

    async def write(self, work: Callable[[Connection], Any], slot: KeySlot | None = None) -> Any: ...


def stored_row(conn: Connection, key: str) -> Any:
    """The stored row for ``key`` (fingerprint, status_code, response), or None."""
    return conn.execute(sa.select(K.fingerprint, K.status_code, K.response).where(K.key == key)).first()


def replay(row: Any, fp: str, key: str) -> Outcome:
    """The stored answer for a replay, or 409 when the key was used for a different request."""
    if row.fingerprint != fp:
        raise Conflict("Idempotency-Key was already used with a different request",
                       details={"idempotency_key": key}, code="idempotency_key_reused")
    return Outcome(int(row.status_code), json.loads(row.response), replayed=True)


def _save(conn: Connection, key: str, fp: str, status: int, body: dict[str, Any]) -> bool:
    insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
    stmt = insert(idempotency_keys).values(
        key=key, fingerprint=fp, status_code=status, response=json.dumps(body, separators=(",", ":")),
        created_at=datetime.now(UTC),
    ).on_conflict_do_nothing(index_elements=["key"]).returning(K.key)
    return conn.execute(stmt).first() is not None  # rowcount is not reliable for DO NOTHING on psycopg


async def run(store: Store, key: str | None, fp: str, status: int,
              write: Callable[[KeySlot | None], Awaitable[dict[str, Any]]]) -> Outcome:
    """The one idempotency wrapper of every POST: run ``write`` once per key.

    ``write`` gets the :class:`KeySlot` to store with its change (None without a key) and raises
    :class:`KeyTaken` when another request stored the key first; that request's answer is replayed.
    A refusal of the work (404, 409, 422) is stored too, so a retry gets the same answer.
    """
    if key is None:
        return Outcome(status, await write(None))
    row = await store.stored(key)
    if row is not None:
        return replay(row, fp, key)
    try:
        return Outcome(status, await write(KeySlot(key, fp, status)))
    except KeyTaken:
        pass
    except SyncError as exc:
        if exc.status not in (404, 409, 422):
            raise
        refusal, refused_status = exc.to_dict(), exc.status
        if await store.write(lambda conn: _save(conn, key, fp, refused_status, refusal)):
            raise
    return replay(await store.stored(key), fp, key)


def prune(engine: Engine, now: datetime | None = None) -> int:
    """Forget keys older than a day (clients retry within minutes, not days)."""
    cutoff = (now or datetime.now(UTC)) - KEEP_FOR
    return int(write_tx(engine, lambda c: c.execute(sa.delete(idempotency_keys).where(K.created_at < cutoff))
                        ).rowcount)
