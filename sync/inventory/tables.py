"""SQLAlchemy Core tables of the inventory service (the migrations in ``migrations/`` create them).

The service uses Core statements, not the ORM: a stock movement is three or four short statements in
one transaction, and the ORM's unit of work would cost more than the database round trips.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

metadata = sa.MetaData()

# SQLite only auto-increments INTEGER PRIMARY KEY; PostgreSQL gets BIGINT identity columns.
BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
Money = sa.Numeric(14, 4)
Stamp = sa.DateTime(timezone=True)


def _id() -> sa.Column[Any]:
    """The surrogate key (a Column belongs to one table, so each table gets its own)."""
    return sa.Column("id", BigId, primary_key=True, autoincrement=True)


def _coded() -> tuple[sa.Column[Any], ...]:
    """``id``, the unique ``code`` clients name the row by, and its ``name``: SKUs, locations, suppliers."""
    return (_id(), sa.Column("code", sa.String(64), nullable=False, unique=True),
            sa.Column("name", sa.String(200), nullable=False))


def _ref(name: str, table: str) -> sa.Column[Any]:
    """A required reference to a row of ``table``."""
    return sa.Column(name, sa.BigInteger, sa.ForeignKey(f"{table}.id"), nullable=False)

skus = sa.Table(
    "skus", metadata,
    *_coded(),
    sa.Column("unit", sa.String(16), nullable=False),
    sa.Column("unit_cost", Money, nullable=False),
    sa.Column("price", Money, nullable=False),
    sa.Column("reorder_point", sa.Integer, nullable=False),
    sa.Column("min_qty", sa.Integer, nullable=False),
    sa.Column("max_qty", sa.Integer, nullable=True),
    sa.Column("supplier", sa.String(200), nullable=True),
    sa.Column("lead_time_days", sa.Integer, nullable=False),
    sa.Column("created_at", Stamp, nullable=False),
    # replenishment parameters (migration 0002): who sets the levels ("manual" or "planner")
    sa.Column("order_up_to", sa.Integer, nullable=True),
    sa.Column("ordering_cost", Money, nullable=True),
    sa.Column("policy", sa.String(16), nullable=False, server_default="manual"),
)

locations = sa.Table(
    "locations", metadata,
    *_coded(),
    sa.Column("allow_negative", sa.Boolean, nullable=False),
    sa.Column("created_at", Stamp, nullable=False),
)

stock_levels = sa.Table(
    "stock_levels", metadata,
    _id(),
    _ref("sku_id", "skus"),
    _ref("location_id", "locations"),
    sa.Column("on_hand", sa.BigInteger, nullable=False),
    sa.Column("reserved", sa.BigInteger, nullable=False),
    sa.Column("incoming", sa.BigInteger, nullable=False),
    sa.Column("updated_at", Stamp, nullable=False),
    sa.UniqueConstraint("sku_id", "location_id", name="uq_stock_levels_sku_location"),
)

# The ledger has no foreign keys (see the migration): rows are only written by this service.
movements = sa.Table(
    "movements", metadata,
    _id(),
    sa.Column("type", sa.String(16), nullable=False),
    sa.Column("sku_id", sa.BigInteger, nullable=False),
    sa.Column("location_id", sa.BigInteger, nullable=False),
    sa.Column("quantity", sa.BigInteger, nullable=False),
    sa.Column("on_hand_after", sa.BigInteger, nullable=False),
    sa.Column("reason", sa.String(64), nullable=True),
    sa.Column("reference", sa.String(200), nullable=True),
    sa.Column("actor", sa.String(200), nullable=True),
    sa.Column("created_at", Stamp, nullable=False),
    sa.Index("ix_movements_sku_location_id", "sku_id", "location_id", "id"),
    sa.Index("ix_movements_created_at", "created_at"),
)

reservations = sa.Table(
    "reservations", metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    _ref("sku_id", "skus"),
    _ref("location_id", "locations"),
    sa.Column("quantity", sa.BigInteger, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("reference", sa.String(200), nullable=True),
    sa.Column("movement_id", sa.BigInteger, nullable=True),
    sa.Column("expires_at", Stamp, nullable=False),
    sa.Column("created_at", Stamp, nullable=False),
    sa.Column("closed_at", Stamp, nullable=True),
    sa.Index("ix_reservations_status_expires", "status", "expires_at"),
)

events = sa.Table(
    "events", metadata,
    _id(),
    sa.Column("seq", sa.BigInteger, nullable=True, unique=True),
    sa.Column("type", sa.String(32), nullable=False),
    sa.Column("payload", sa.Text, nullable=False),
    sa.Column("created_at", Stamp, nullable=False),
    sa.Index("ix_events_unsequenced", "id", postgresql_where=sa.text("seq IS NULL"),
             sqlite_where=sa.text("seq IS NULL")),
)

idempotency_keys = sa.Table(
    "idempotency_keys", metadata,
    sa.Column("key", sa.String(255), primary_key=True),
    sa.Column("fingerprint", sa.String(64), nullable=False),
    sa.Column("status_code", sa.Integer, nullable=False),
    sa.Column("response", sa.Text, nullable=False),
    sa.Column("created_at", Stamp, nullable=False),
    sa.Index("ix_idempotency_created", "created_at"),
)

# --- purchasing (migration 0002) ------------------------------------------------------------------

sku_changes = sa.Table(
    "sku_changes", metadata,
    _id(),
    _ref("sku_id", "skus"),
    sa.Column("changes", sa.Text, nullable=False),  # JSON: {field: [before, after]}
    sa.Column("actor", sa.String(200), nullable=True),
    sa.Column("created_at", Stamp, nullable=False),
    sa.Index("ix_sku_changes_sku", "sku_id", "id"),
)

suppliers = sa.Table(
    "suppliers", metadata,
    *_coded(),
    sa.Column("lead_time_days", sa.Integer, nullable=False),
    sa.Column("lead_time_sd_days", sa.Float, nullable=True),
    sa.Column("created_at", Stamp, nullable=False),
)

purchase_orders = sa.Table(
    "purchase_orders", metadata,
    _id(),
    _ref("supplier_id", "suppliers"),
    _ref("location_id", "locations"),
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("reference", sa.String(200), nullable=True),
    sa.Column("note", sa.String(1000), nullable=True),
    sa.Column("plan_id", sa.String(64), nullable=True),
    sa.Column("expected_at", sa.Date, nullable=True),
    sa.Column("created_by", sa.String(200), nullable=True),
    sa.Column("created_at", Stamp, nullable=False),
    sa.Column("approved_at", Stamp, nullable=True),
    sa.Column("sent_at", Stamp, nullable=True),
    sa.Column("closed_at", Stamp, nullable=True),
    sa.Index("ix_purchase_orders_status", "status", "id"),
)

purchase_order_lines = sa.Table(
    "purchase_order_lines", metadata,
    _id(),
    _ref("po_id", "purchase_orders"),
    _ref("sku_id", "skus"),
    sa.Column("quantity", sa.BigInteger, nullable=False),
    sa.Column("received", sa.BigInteger, nullable=False),
    sa.Column("unit_cost", Money, nullable=True),
    sa.Column("reason", sa.Text, nullable=True),  # JSON: why the planner proposed this line
    sa.UniqueConstraint("po_id", "sku_id", name="uq_po_lines_po_sku"),
)
