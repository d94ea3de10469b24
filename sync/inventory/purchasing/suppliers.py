"""Suppliers, with the lead time they promise and the lead time their received orders showed."""

from __future__ import annotations

import statistics
from datetime import UTC
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from sync.errors import NotFound, ValidationFailed
from sync.inventory.catalog import create_coded
from sync.inventory.db import read_conn
from sync.inventory.paging import by_code
from sync.inventory.purchasing.schemas import SupplierIn
from sync.inventory.serialize import iso
from sync.inventory.tables import purchase_orders, suppliers

S = suppliers.c
P = purchase_orders.c


def supplier_by_code(conn: Connection, code: str, field: str = "supplier") -> Any:
    row = conn.execute(sa.select(suppliers).where(S.code == code)).first()
    if row is None:
        raise ValidationFailed(f"{field}: unknown supplier {code!r}",
                               details=[{"field": field, "problem": f"unknown supplier {code!r}"}])
    return row


def observed_lead_times(conn: Connection, supplier_id: int) -> list[float]:
    """Days from sending to full receipt, for every order of the supplier received in full."""
    rows = conn.execute(sa.select(P.sent_at, P.closed_at).where(
        P.supplier_id == supplier_id, P.status == "received", P.sent_at.is_not(None), P.closed_at.is_not(None)))
    out = []
    for sent, closed in rows:
        sent = sent if sent.tzinfo else sent.replace(tzinfo=UTC)
        closed = closed if closed.tzinfo else closed.replace(tzinfo=UTC)
        out.append((closed - sent).total_seconds() / 86400)
    return out


def supplier_out(conn: Connection, row: Any) -> dict[str, Any]:
    observed = observed_lead_times(conn, int(row.id))
    return {"code": row.code, "name": row.name, "lead_time_days": int(row.lead_time_days),
            "lead_time_sd_days": row.lead_time_sd_days, "created_at": iso(row.created_at),
            "observed_lead_time": {
                "orders": len(observed),
                "mean_days": round(statistics.fmean(observed), 3) if observed else None,
                "sd_days": round(statistics.stdev(observed), 3) if len(observed) > 1 else None}}


def create(conn: Connection, body: SupplierIn) -> dict[str, Any]:
    return create_coded(conn, suppliers, body, "supplier", lambda row: supplier_out(conn, row))


def get(engine: Engine, code: str) -> dict[str, Any]:
    with read_conn(engine) as conn:
        row = conn.execute(sa.select(suppliers).where(S.code == code)).first()
        if row is None:
            raise NotFound(f"supplier {code!r} not found", details={"field": "code"})
        return supplier_out(conn, row)


def list_suppliers(engine: Engine, limit: int, cursor: str | None) -> dict[str, Any]:
    return by_code(engine, suppliers, limit, cursor, supplier_out)
