"""The transactional outbox: events written with the change they describe, read at ``GET /events``.

Writers insert events without a position (``seq``); readers give positions in commit order. Plain
auto-increment ids would not do: two transactions can commit out of id order, and a follower that had
read past the later id would skip the earlier one forever.

On PostgreSQL every transaction that writes events holds ``pg_advisory_xact_lock_shared(EVENT_LOCK_ID)``
from before its first event insert until it commits (shared: writers never wait for each other). A reader
takes the same lock exclusively, so it waits until every writer that has inserted events has committed,
and new writers wait (briefly) until it has numbered every committed event. An event the reader cannot
see yet therefore gets a larger position from a later reader. If a long writer (a bulk import) holds
the lock for more than ``SEQUENCE_WAIT`` the reader returns the events already numbered instead of
waiting. SQLite commits writers one at a time, so every committed event can be numbered at once.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import OperationalError

from sync.inventory.db import write_tx
from sync.inventory.serialize import iso
from sync.inventory.tables import events

EVENT_TYPES = ("movement.created", "level.changed", "low_stock", "out_of_stock", "reservation.created",
               "reservation.committed", "reservation.released", "reservation.expired", "import.completed",
               "sku.created", "location.created", "sku.updated", "supplier.created", "po.created", "po.updated",
               "po.approved", "po.sent", "po.received", "po.cancelled")
EVENT_LOCK_ID = 7_004_005
SEQUENCE_WAIT = "2s"


def event_row(type_: str, payload: dict[str, Any], now: datetime) -> dict[str, Any]:
    return {"type": type_, "payload": json.dumps(payload, separators=(",", ":")), "created_at": now}


def crossings(delta_available: int, reorder_point: int) -> list[tuple[str, dict[str, Any], int, int]]:
    """The threshold events of a change of ``available`` by ``delta_available``: (type, extra payload, lo, hi).

    Each is due when ``available`` after the change is in ``[lo, hi]`` (an empty range when ``lo > hi``):
    ``low_stock`` when it crosses down to or below the reorder point (after <= rp < before), and
    ``out_of_stock`` when it crosses down to 0 or below (after <= 0 < before), before = after - delta.
    The one statement of ``store/postgres.py`` evaluates these same ranges in SQL.
    """
    return [("low_stock", {"reorder_point": reorder_point}, reorder_point + delta_available + 1, reorder_point),
            ("out_of_stock", {}, delta_available + 1, 0)]


def write_events(conn: Connection, rows: list[dict[str, Any]]) -> None:
    if rows:
        if conn.dialect.name == "postgresql":
            conn.execute(sa.text("SELECT pg_advisory_xact_lock_shared(:k)"), {"k": EVENT_LOCK_ID})
        conn.execute(events.insert(), rows)


def _sequence(conn: Connection) -> None:
    """Give positions, in commit order, to every committed event that has none yet."""
    if conn.dialect.name == "postgresql":
        conn.execute(sa.text(f"SET LOCAL lock_timeout = '{SEQUENCE_WAIT}'"))
        try:
            with conn.begin_nested():
                conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": EVENT_LOCK_ID})
        except OperationalError as exc:
            if getattr(exc.orig, "sqlstate", None) != "55P03":  # lock_not_available: a long writer
                raise
            return
    conn.execute(sa.text("""
        UPDATE events SET seq = ranked.pos FROM (
            SELECT id, (SELECT COALESCE(MAX(seq), 0) FROM events) + ROW_NUMBER() OVER (ORDER BY id) AS pos
            FROM events WHERE seq IS NULL
        ) AS ranked WHERE events.id = ranked.id
    """))


def read_events(engine: Engine, after: int, limit: int) -> dict[str, Any]:
    def work(conn: Connection) -> list[Any]:
        _sequence(conn)
        query = (sa.select(events.c.seq, events.c.type, events.c.payload, events.c.created_at)
                 .where(events.c.seq > after).order_by(events.c.seq).limit(limit))
        return list(conn.execute(query))

    rows = write_tx(engine, work)
    items = [{"id": int(r.seq), "type": r.type, "payload": json.loads(r.payload), "created_at": iso(r.created_at)}
             for r in rows]
    return {"items": items, "next_after": items[-1]["id"] if items else after}
