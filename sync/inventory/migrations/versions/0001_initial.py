"""Initial inventory schema: SKUs, locations, levels, ledger, reservations, outbox, idempotency keys.

Revision ID: 0001
Revises:
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
Money = sa.Numeric(14, 4)
Stamp = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "skus",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("code", sa.String(64), nullable=False, unique=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("unit", sa.String(16), nullable=False),
        sa.Column("unit_cost", Money, nullable=False),
        sa.Column("price", Money, nullable=False),
        sa.Column("reorder_point", sa.Integer, nullable=False),
        sa.Column("min_qty", sa.Integer, nullable=False),
        sa.Column("max_qty", sa.Integer, nullable=True),
        sa.Column("supplier", sa.String(200), nullable=True),
        sa.Column("lead_time_days", sa.Integer, nullable=False),
        sa.Column("created_at", Stamp, nullable=False),
    )
    op.create_table(
        "locations",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("code", sa.String(64), nullable=False, unique=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("allow_negative", sa.Boolean, nullable=False),
        sa.Column("created_at", Stamp, nullable=False),
    )
    op.create_table(
        "stock_levels",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("sku_id", sa.BigInteger, sa.ForeignKey("skus.id"), nullable=False),
        sa.Column("location_id", sa.BigInteger, sa.ForeignKey("locations.id"), nullable=False),
        sa.Column("on_hand", sa.BigInteger, nullable=False),
        sa.Column("reserved", sa.BigInteger, nullable=False),
        sa.Column("incoming", sa.BigInteger, nullable=False),
        sa.Column("updated_at", Stamp, nullable=False),
        sa.UniqueConstraint("sku_id", "location_id", name="uq_stock_levels_sku_location"),
    )
    # No foreign keys on the ledger: only this service writes it, resolving sku/location ids in the same
    # transaction, and per-row FK checks doubled the time of a bulk COPY (the import benchmark).
    op.create_table(
        "movements",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("type", sa.String(16), nullable=False),
        sa.Column("sku_id", sa.BigInteger, nullable=False),
        sa.Column("location_id", sa.BigInteger, nullable=False),
        sa.Column("quantity", sa.BigInteger, nullable=False),
        sa.Column("on_hand_after", sa.BigInteger, nullable=False),
        sa.Column("reason", sa.String(64), nullable=True),
        sa.Column("reference", sa.String(200), nullable=True),
        sa.Column("actor", sa.String(200), nullable=True),
        sa.Column("created_at", Stamp, nullable=False),
    )
    op.create_index("ix_movements_sku_location_id", "movements", ["sku_id", "location_id", "id"])
    op.create_index("ix_movements_created_at", "movements", ["created_at"])
    op.create_table(
        "reservations",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("sku_id", sa.BigInteger, sa.ForeignKey("skus.id"), nullable=False),
        sa.Column("location_id", sa.BigInteger, sa.ForeignKey("locations.id"), nullable=False),
        sa.Column("quantity", sa.BigInteger, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("reference", sa.String(200), nullable=True),
        sa.Column("movement_id", sa.BigInteger, nullable=True),
        sa.Column("expires_at", Stamp, nullable=False),
        sa.Column("created_at", Stamp, nullable=False),
        sa.Column("closed_at", Stamp, nullable=True),
    )
    op.create_index("ix_reservations_status_expires", "reservations", ["status", "expires_at"])
    # `seq` is the public position, given in commit order by readers (see sync/inventory/events.py).
    op.create_table(
        "events",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("seq", sa.BigInteger, nullable=True, unique=True),
        sa.Column("type", sa.String(32), nullable=False),
        sa.Column("payload", sa.Text, nullable=False),
        sa.Column("created_at", Stamp, nullable=False),
    )
    op.create_index("ix_events_unsequenced", "events", ["id"], postgresql_where=sa.text("seq IS NULL"),
                    sqlite_where=sa.text("seq IS NULL"))
    op.create_table(
        "idempotency_keys",
        sa.Column("key", sa.String(255), primary_key=True),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("status_code", sa.Integer, nullable=False),
        sa.Column("response", sa.Text, nullable=False),
        sa.Column("created_at", Stamp, nullable=False),
    )
    op.create_index("ix_idempotency_created", "idempotency_keys", ["created_at"])


def downgrade() -> None:
    for table in ("idempotency_keys", "events", "reservations", "movements", "stock_levels", "locations", "skus"):
        op.drop_table(table)
