"""Stock movements: one transaction writes the ledger row(s), the cached level(s) and the events.

The ledger is append-only: corrections are new movements. ``quantity`` in the ledger is the signed
change of on_hand; ``on_hand_after`` is the cached level right after this movement. The write itself
is a movement plan (``store/plan.py``) run by a store (``store/``); this is the synchronous entry for
code that already holds a transaction (the demo loader).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.engine import Connection

from sync.inventory.catalog import Catalog
from sync.inventory.schemas import MovementIn
from sync.inventory.store.plan import plan_movement
from sync.inventory.store.sql import execute, resolve


def apply_movement(conn: Connection, catalog: Catalog, body: MovementIn, actor: str | None) -> dict[str, Any]:
    """Apply one POST /movements body in ``conn``'s transaction; raises Conflict (409) when stock is short."""
    sku, location, dest = resolve(conn, catalog, body)
    return execute(conn, plan_movement(body, sku, location, actor, to_location=dest))
