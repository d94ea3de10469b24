"""Demo data for a fresh ``make run``: the bundled Online Retail II sample, on an empty database only.

Dates are moved forward by whole weeks so the two years of history end last week (dashboards and
forecasts "as of now" then have data; weekdays and weeks are unchanged). Two locations (``MAIN``
warehouse, ``STORE`` shop), the sample's 36 SKUs with master data derived from
the sales (``sku_profile``), an opening-balance receipt per SKU big enough for the whole history plus six
weeks of average sales (so the demo ends with stock on hand), the history itself as shipments, returns
and adjustments, and a transfer of a few units of five SKUs to the shop.
"""

from __future__ import annotations

from datetime import UTC, datetime
from importlib import resources
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from sync.inventory.catalog import Catalog
from sync.inventory.db import read_conn, write_tx
from sync.inventory.importer import import_file
from sync.inventory.ledger import apply_movement
from sync.inventory.schemas import MovementIn
from sync.inventory.tables import locations, skus, stock_levels

SAMPLE = "online_retail_sample.csv"
BUFFER_WEEKS = 6.0
STORE_SKUS = 5


DEMO_LOCK_ID = 7_004_006


def _no_skus(conn: Connection) -> bool:
    return conn.execute(sa.select(sa.func.count()).select_from(skus)).scalar_one() == 0


def _is_empty(engine: Engine) -> bool:
    with read_conn(engine) as conn:
        return _no_skus(conn)


def _still_empty(conn: Connection) -> bool:
    """Re-checked inside the import's transaction, so replicas starting together load the demo once
    (SQLite: the transaction holds the write lock; PostgreSQL: an advisory lock until commit)."""
    if conn.dialect.name == "postgresql":
        conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": DEMO_LOCK_ID})
    return _no_skus(conn)


def load_if_empty(engine: Engine) -> dict[str, Any] | None:
    """Load the demo when the database has no SKUs; returns the import report, or None if skipped."""
    if not _is_empty(engine):
        return None
    with resources.as_file(resources.files("sync") / "data" / SAMPLE) as sample:
        report = import_file(engine, sample, location="MAIN", opening_buffer_weeks=BUFFER_WEEKS, actor="demo",
                             end_before=datetime.now(UTC), guard=_still_empty)
    if report is None:
        return None
    write_tx(engine, _add_store)
    return report.to_dict()


def _add_store(conn: Connection) -> None:
    conn.execute(sa.insert(locations).values(code="STORE", name="High-street shop", allow_negative=False,
                                             created_at=datetime.now(UTC)))
    query = (sa.select(skus.c.code, stock_levels.c.on_hand).join(stock_levels, stock_levels.c.sku_id == skus.c.id)
             .order_by(stock_levels.c.on_hand.desc(), skus.c.code).limit(STORE_SKUS))
    top = conn.execute(query).all()
    catalog = Catalog(conn.engine)
    for row in top:
        quantity = max(1, int(row.on_hand) // 10)
        if row.on_hand >= quantity:
            apply_movement(conn, catalog, MovementIn(type="transfer", sku=row.code, location="MAIN",
                                                     to_location="STORE", quantity=quantity,
                                                     reference="demo:stock the shop"), "demo")
