"""The transactional outbox: events written with the change they describe, read at ``GET /events``.

Writers insert events without a position (``seq``). A reader assigns positions, under an advisory lock
(PostgreSQL) or the write lock (SQLite), only to events whose writing transaction can no longer be
overtaken: on PostgreSQL those whose transaction id is older than every transaction still running
(``pg_snapshot_xmin``); on SQLite every committed event, since SQLite commits writers one at a time.
So ``GET /events?after=N`` never skips an event that commits late, which plain auto-increment ids
would do when two transactions commit out of id order.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from sync.inventory.db import write_tx
from sync.inventory.serialize import iso
from sync.inventory.tables import events

EVENT_TYPES = ("movement.created", "level.changed", "low_stock", "out_of_stock", "reservation.created",
               "reservation.committed", "reservation.released", "reservation.expired", "import.completed",
               "sku.created", "location.created")
SEQUENCE_LOCK_ID = 7_004_005


def event_row(type_: str, payload: dict[str, Any], now: datetime) -> dict[str, Any]:
    return {"type": type_, "payload": json.dumps(payload, separators=(",", ":")), "created_at": now}


def level_events(level: dict[str, Any], delta_available: int, reorder_point: int, now: datetime,
                 reason: dict[str, Any]) -> list[dict[str, Any]]:
    """``level.changed`` plus ``low_stock`` / ``out_of_stock`` when ``available`` crosses those lines."""
    rows = [event_row("level.changed", level | {"cause": reason}, now)]
    after = level["available"]
    before = after - delta_available
    if after <= reorder_point < before:
        rows.append(event_row("low_stock", level | {"reorder_point": reorder_point}, now))
    if after <= 0 < before:
        rows.append(event_row("out_of_stock", level, now))
    return rows


def write_events(conn: Connection, rows: list[dict[str, Any]]) -> None:
    if rows:
        conn.execute(events.insert(), rows)


def _sequence(conn: Connection) -> None:
    """Give positions to every event that can no longer be overtaken by an uncommitted one."""
    if conn.dialect.name == "postgresql":
        conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": SEQUENCE_LOCK_ID})
        safe = "txid < pg_snapshot_xmin(pg_current_snapshot())::text::bigint"
    else:
        safe = "1 = 1"
    conn.execute(sa.text(f"""
        UPDATE events SET seq = ranked.pos FROM (
            SELECT id, (SELECT COALESCE(MAX(seq), 0) FROM events) + ROW_NUMBER() OVER (ORDER BY txid, id) AS pos
            FROM events WHERE seq IS NULL AND {safe}
        ) AS ranked WHERE events.id = ranked.id
    """))  # noqa: S608 - `safe` is one of two constants above


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
