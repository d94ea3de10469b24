"""Purchasing: suppliers, purchase orders and their lines, SKU replenishment parameters and their change log.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
Money = sa.Numeric(14, 4)
Stamp = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("skus") as batch:
        batch.add_column(sa.Column("order_up_to", sa.Integer, nullable=True))
        batch.add_column(sa.Column("ordering_cost", Money, nullable=True))
        batch.add_column(sa.Column("policy", sa.String(16), nullable=False, server_default="manual"))
    op.create_table(
        "sku_changes",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("sku_id", sa.BigInteger, sa.ForeignKey("skus.id"), nullable=False),
        sa.Column("changes", sa.Text, nullable=False),
        sa.Column("actor", sa.String(200), nullable=True),
        sa.Column("created_at", Stamp, nullable=False),
    )
    op.create_index("ix_sku_changes_sku", "sku_changes", ["sku_id", "id"])
    op.create_table(
        "suppliers",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("code", sa.String(64), nullable=False, unique=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("lead_time_days", sa.Integer, nullable=False),
        sa.Column("lead_time_sd_days", sa.Float, nullable=True),
        sa.Column("created_at", Stamp, nullable=False),
    )
    op.create_table(
        "purchase_orders",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("supplier_id", sa.BigInteger, sa.ForeignKey("suppliers.id"), nullable=False),
        sa.Column("location_id", sa.BigInteger, sa.ForeignKey("locations.id"), nullable=False),
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
    )
    op.create_index("ix_purchase_orders_status", "purchase_orders", ["status", "id"])
    op.create_table(
        "purchase_order_lines",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("po_id", sa.BigInteger, sa.ForeignKey("purchase_orders.id"), nullable=False),
        sa.Column("sku_id", sa.BigInteger, sa.ForeignKey("skus.id"), nullable=False),
        sa.Column("quantity", sa.BigInteger, nullable=False),
        sa.Column("received", sa.BigInteger, nullable=False),
        sa.Column("unit_cost", Money, nullable=True),
        sa.Column("reason", sa.Text, nullable=True),
        sa.UniqueConstraint("po_id", "sku_id", name="uq_po_lines_po_sku"),
    )


def downgrade() -> None:
    for table in ("purchase_order_lines", "purchase_orders", "suppliers", "sku_changes"):
        op.drop_table(table)
    with op.batch_alter_table("skus") as batch:
        for column in ("policy", "ordering_cost", "order_up_to"):
            batch.drop_column(column)
