"""Guarded changes to the cached stock level, the portable store's code for ``stock_levels``.

(The other writers are the single statement of ``store/postgres.py``, built from the same plan and
guard, and the bulk import, which locks the rows it sets.) Every change is one conditional statement:
a decrease is
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
from sync.inventory.catalog import LocationRef, SkuRef
from sync.inventory.tables import stock_levels

L = stock_levels.c
RETURNED = (L.on_hand, L.reserved, L.incoming, L.updated_at)


@dataclass(frozen=True, slots=True)
class Level:
    on_hand: int
    reserved: int
    incoming: int
    updated_at: datetime | str  # a string when a plan gives its own stamp (store/postgres.py)

    @property
    def available(self) -> int:
        return self.on_hand - self.reserved


def _insert(conn: Connection) -> Any:
    return (postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert)(stock_levels)


def ensure_row(conn: Connection, sku_id: int, location_id: int, now: datetime) -> None:
    stmt = _insert(conn).values(sku_id=sku_id, location_id=location_id, on_hand=0, reserved=0, incoming=0,
                                updated_at=now).on_conflict_do_nothing(index_elements=["sku_id", "location_id"])
    conn.execute(stmt)


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


def change(conn: Connection, sku: SkuRef, location: LocationRef, now: datetime, *, on_hand: int = 0,
           reserved: int = 0, incoming: int = 0, need: int | None = None) -> Level:
    """Add the signed deltas to the level row, if ``need`` units are available (None: unguarded).

    A missing row is created (at zero) for an unguarded change; a guarded one on a missing or short
    row raises the 409 ``insufficient_stock`` and writes nothing.
    """
    stmt = sa.update(stock_levels).where(_where(sku.id, location.id))
    if need is not None:
        stmt = stmt.where(L.on_hand - L.reserved >= need)
    stmt = stmt.values(on_hand=L.on_hand + on_hand, reserved=L.reserved + reserved, incoming=L.incoming + incoming,
                       updated_at=now).returning(*RETURNED)
    row = conn.execute(stmt).first()
    if row is None and need is None:
        ensure_row(conn, sku.id, location.id, now)
        row = conn.execute(stmt).first()
    if row is None:
        raise short(conn, sku.id, location.id, need or 0, sku.code, location.code)
    return Level(*row)
