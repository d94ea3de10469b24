"""``PATCH /skus/{code}``: a planner's changes to a SKU's replenishment parameters, each one recorded."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from sync.errors import NotFound, ValidationFailed
from sync.inventory.catalog import Catalog
from sync.inventory.db import read_conn
from sync.inventory.events import event_row, write_events
from sync.inventory.purchasing.schemas import SkuPatch
from sync.inventory.purchasing.suppliers import supplier_by_code
from sync.inventory.serialize import iso, sku_out
from sync.inventory.tables import sku_changes, skus


def _plain(value: Any) -> Any:
    return float(value) if isinstance(value, Decimal) else value


def patch(conn: Connection, catalog: Catalog, code: str, body: SkuPatch, actor: str | None) -> dict[str, Any]:
    row = conn.execute(sa.select(skus).where(skus.c.code == code).with_for_update()).first()
    if row is None:
        raise NotFound(f"SKU {code!r} not found", details={"field": "code"})
    sent = body.model_dump(exclude_unset=True)
    if "supplier" in sent and sent["supplier"] is not None:
        supplier_by_code(conn, sent["supplier"])
    merged = {k: sent.get(k, getattr(row, k)) for k in ("reorder_point", "order_up_to", "min_qty", "max_qty")}
    if merged["order_up_to"] is not None and merged["order_up_to"] < merged["reorder_point"]:
        raise ValidationFailed("order_up_to: must be at least reorder_point",
                               details=[{"field": "order_up_to", "problem": "below reorder_point"}])
    if merged["max_qty"] is not None and merged["max_qty"] < merged["min_qty"]:
        raise ValidationFailed("max_qty: must be at least min_qty",
                               details=[{"field": "max_qty", "problem": "below min_qty"}])
    changes = {k: [_plain(getattr(row, k)), _plain(v)] for k, v in sent.items() if _plain(getattr(row, k)) != _plain(v)}
    now = datetime.now(UTC)
    if changes:
        conn.execute(sa.update(skus).where(skus.c.id == row.id).values(**{k: sent[k] for k in changes}))
        conn.execute(sa.insert(sku_changes).values(sku_id=row.id, changes=json.dumps(changes), actor=actor,
                                                   created_at=now))
        catalog.forget_sku(code)  # its reorder point may have changed
    out = sku_out(conn.execute(sa.select(skus).where(skus.c.id == row.id)).one())
    if changes:
        write_events(conn, [event_row("sku.updated", {"sku": out, "changes": changes, "actor": actor}, now)])
    return out | {"changes": changes}


def history(engine: Engine, code: str, limit: int) -> dict[str, Any]:
    with read_conn(engine) as conn:
        sku_id = conn.execute(sa.select(skus.c.id).where(skus.c.code == code)).scalar()
        if sku_id is None:
            raise NotFound(f"SKU {code!r} not found", details={"field": "code"})
        rows = conn.execute(sa.select(sku_changes).where(sku_changes.c.sku_id == sku_id)
                            .order_by(sku_changes.c.id.desc()).limit(limit))
        return {"items": [{"id": int(r.id), "changes": json.loads(r.changes), "actor": r.actor,
                           "created_at": iso(r.created_at)} for r in rows]}
