"""``Idempotency-Key`` for every POST: the first response is stored in the same transaction as the
change, so a replay returns it and changes nothing; the same key with a different request is a 409.

Concurrent first attempts with one key: on PostgreSQL the second ``INSERT`` of the key waits on the
first transaction's unique-index entry and then finds the key taken, so its own work is rolled back
and it answers with the stored response; on SQLite writers are serialised anyway. Refusals (409, 422)
of the work are stored too, so a replay gets the same answer, as a client retrying would expect.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine

from sync.errors import Conflict, SyncError, ValidationFailed
from sync.inventory.db import read_conn, write_tx
from sync.inventory.tables import idempotency_keys

K = idempotency_keys.c
MAX_KEY_LENGTH = 255
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


def check_key(key: str | None) -> str | None:
    if key is None:
        return None
    if not key or len(key) > MAX_KEY_LENGTH or not key.isprintable():
        raise ValidationFailed(f"Idempotency-Key header must be 1-{MAX_KEY_LENGTH} printable characters",
                               details=[{"field": "Idempotency-Key", "problem": "invalid value"}])
    return key


def lookup(engine: Engine, key: str, fp: str) -> Outcome | None:
    """The stored outcome for ``key`` (409 if it was used for a different request), or None."""
    with read_conn(engine) as conn:
        row = _stored(conn, key)
    return None if row is None else replay(row, fp, key)


def save(conn: Connection, key: str, fp: str, status: int, body: dict[str, Any]) -> None:
    """Store the outcome inside the caller's transaction; KeyTaken if another request stored it first."""
    if not _save(conn, key, fp, status, body):
        raise KeyTaken


def _stored(conn: Connection, key: str) -> Any:
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


def run_idempotent(engine: Engine, key: str | None, fp: str, status: int,
                   work: Callable[[Connection], dict[str, Any]]) -> Outcome:
    """Run ``work`` in one write transaction, once per key."""
    if key is None:
        return Outcome(status, write_tx(engine, work))
    with read_conn(engine) as conn:
        row = _stored(conn, key)
    if row is not None:
        return replay(row, fp, key)

    def tx(conn: Connection) -> dict[str, Any]:
        body = work(conn)
        if not _save(conn, key, fp, status, body):
            raise KeyTaken
        return body

    try:
        return Outcome(status, write_tx(engine, tx))
    except KeyTaken:
        pass
    except SyncError as exc:
        if exc.status not in (404, 409, 422):
            raise
        refusal, refused_status = exc.to_dict(), exc.status
        if write_tx(engine, lambda conn: _save(conn, key, fp, refused_status, refusal)):
            raise
    with read_conn(engine) as conn:
        return replay(_stored(conn, key), fp, key)


def prune(engine: Engine, now: datetime | None = None) -> int:
    """Forget keys older than a day (clients retry within minutes, not days)."""
    cutoff = (now or datetime.now(UTC)) - KEEP_FOR
    return int(write_tx(engine, lambda c: c.execute(sa.delete(idempotency_keys).where(K.created_at < cutoff))
                        ).rowcount)
