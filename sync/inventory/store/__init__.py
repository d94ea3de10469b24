"""Inventory writes behind one interface, with two implementations.

- :class:`~.sql.SqlStore`, the portable one (SQLAlchemy Core, SQLite or PostgreSQL);
- :class:`~.postgres.PostgresStore`, the single-statement one (PostgreSQL), which hands what it cannot
  do in one statement to the portable one.

Both take a :class:`~.plan.MovementPlan` (``plan.py``: what changes, the guard, the events, the
response) and the same :class:`~sync.inventory.idempotency.KeySlot`. The interface:

- ``await store.plan(body, actor)``: the plan of a ``POST /movements`` body (422 for unknown codes);
- ``await store.apply(plan, slot=None)``: write it (409 when the guard refuses, nothing written);
- ``await store.write(work, slot=None)``: any other write, ``work(conn)`` in one transaction;
- ``await store.stored(key)``, ``await store.read(fn, *args)``, ``await store.ping()``, ``await store.close()``.

Every database failure comes out as a 503 with ``Retry-After`` (``db.DatabaseUnavailable``).
``tests/inventory/test_store_contract.py`` runs one suite against both.
"""

from __future__ import annotations

from sqlalchemy.engine import Engine

from sync.inventory.catalog import Catalog
from sync.inventory.store.plan import Applied, MovementPlan, Step, plan_movement
from sync.inventory.store.postgres import PostgresStore
from sync.inventory.store.sql import SqlStore

InventoryStore = SqlStore  # the interface; PostgresStore is one (a subclass)

__all__ = ["Applied", "InventoryStore", "MovementPlan", "PostgresStore", "SqlStore", "Step", "open_store",
           "plan_movement"]


def open_store(engine: Engine, catalog: Catalog) -> SqlStore:
    """The store for ``engine``: single-statement on PostgreSQL, portable elsewhere."""
    return PostgresStore(engine, catalog) if engine.dialect.name == "postgresql" else SqlStore(engine, catalog)
