"""Guarded changes to the cached stock level, the only code that writes ``stock_levels``.

Every change is one conditional statement: a decrease is
``UPDATE ... SET on_hand = on_hand - :q WHERE on_hand - reserved >= :q RETURNING ...``, so two
concurrent requests cannot both take the last unit (the second one's WHERE is re-checked after the
first commits, on PostgreSQL under the row lock, on SQLite under the database write lock).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from sync.errors import Conflict
from sync.inventory.tables import stock_levels

L = stock_levels.c
RETURNED = (L.on_hand, L.reserved, L.incoming, L.updated_at)


@dataclass(frozen=True, slots=True)
class Level:
    on_hand: int
    reserved: int
    incoming: int
    updated_at: datetime

    @property
    def available(self) -> int:
        return self.on_hand - self.reserved


def _insert(conn: Connection) -> Any:
    return (postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert)(stock_levels)


def ensure_row(conn: Connection, sku_id: int, location_id: int, now: datetime) -> None:
    stmt = _insert(conn).values(sku_id=sku_id, location_id=location_id, on_hand=0, reserved=0, incoming=0,
                                updated_at=now).on_conflict_do_nothing(index_elements=["sku_id", "location_id"])
    conn.execute(stmt)


def add_on_hand(conn: Connection, sku_id: int, location_id: int, qty: int, now: datetime) -> Level:
    """Increase on_hand (receipt, return, transfer in): an upsert, never refused."""
    ins = _insert(conn).values(sku_id=sku_id, location_id=location_id, on_hand=qty, reserved=0, incoming=0,
                               updated_at=now)
    stmt = ins.on_conflict_do_update(
        index_elements=["sku_id", "location_id"],
        set_={"on_hand": L.on_hand + ins.excluded.on_hand, "updated_at": ins.excluded.updated_at},
    ).returning(*RETURNED)
    return Level(*conn.execute(stmt).one())


def _where(sku_id: int, location_id: int) -> Any:
    return sa.and_(L.sku_id == sku_id, L.location_id == location_id)


def current(conn: Connection, sku_id: int, location_id: int) -> Level | None:
    row = conn.execute(sa.select(*RETURNED).where(_where(sku_id, location_id))).first()
    return Level(*row) if row else None


def short(conn: Connection, sku_id: int, location_id: int, qty: int, sku: str, location: str) -> Conflict:
    level = current(conn, sku_id, location_id)
    available = level.available if level else 0
    return Conflict(
        f"insufficient stock: {sku} at {location} has {available} available, {qty} requested",
        details={"sku": sku, "location": location, "available": available, "requested": qty},
        code="insufficient_stock",
    )


def take_on_hand(conn: Connection, sku_id: int, location_id: int, qty: int, now: datetime, *,
                 allow_negative: bool, sku: str, location: str) -> Level:
    """Decrease on_hand by ``qty`` if that much is available (or the location allows negative stock)."""
    stmt = sa.update(stock_levels).where(_where(sku_id, location_id))
    if not allow_negative:
        stmt = stmt.where(L.on_hand - L.reserved >= qty)
    stmt = stmt.values(on_hand=L.on_hand - qty, updated_at=now).returning(*RETURNED)
    row = conn.execute(stmt).first()
    if row is None and allow_negative:
        ensure_row(conn, sku_id, location_id, now)
        row = conn.execute(stmt).first()
    if row is None:
        raise short(conn, sku_id, location_id, qty, sku, location)
    return Level(*row)


def reserve(conn: Connection, sku_id: int, location_id: int, qty: int, now: datetime, *,
            sku: str, location: str) -> Level:
    """Move ``qty`` from available to reserved, if available (reservations never go negative)."""
    stmt = (sa.update(stock_levels).where(_where(sku_id, location_id)).where(L.on_hand - L.reserved >= qty)
            .values(reserved=L.reserved + qty, updated_at=now).returning(*RETURNED))
    row = conn.execute(stmt).first()
    if row is None:
        raise short(conn, sku_id, location_id, qty, sku, location)
    return Level(*row)


def unreserve(conn: Connection, sku_id: int, location_id: int, qty: int, now: datetime, *,
              ship: bool) -> Level:
    """Give back a reservation; with ``ship`` the units also leave on_hand (the reservation is committed)."""
    values: dict[str, Any] = {"reserved": L.reserved - qty, "updated_at": now}
    if ship:
        values["on_hand"] = L.on_hand - qty
    stmt = sa.update(stock_levels).where(_where(sku_id, location_id)).values(**values).returning(*RETURNED)
    return Level(*conn.execute(stmt).one())


def add_incoming(conn: Connection, sku_id: int, location_id: int, qty: int, now: datetime) -> Level:
    """Change ``incoming`` (units on approved purchase orders, not yet received) by ``qty``, which may be negative."""
    ins = _insert(conn).values(sku_id=sku_id, location_id=location_id, on_hand=0, reserved=0, incoming=qty,
                               updated_at=now)
    stmt = ins.on_conflict_do_update(
        index_elements=["sku_id", "location_id"],
        set_={"incoming": L.incoming + ins.excluded.incoming, "updated_at": ins.excluded.updated_at},
    ).returning(*RETURNED)
    return Level(*conn.execute(stmt).one())
