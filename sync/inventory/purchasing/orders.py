"""Purchase orders: create (draft), edit, approve, send, receive in full or in part, cancel.

Every status change is a conditional update (``WHERE status IN (...)``), so two clients racing to approve, receive
or cancel the same order change it once. Receiving a line is guarded the same way as a stock decrease:
``UPDATE ... SET received = received + :q WHERE received + :q <= quantity``, so no mix of concurrent receipts can
receive more than was ordered; a refused line rolls the whole receipt back.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from sync.errors import Conflict, NotFound, ValidationFailed
from sync.inventory import levels
from sync.inventory.catalog import Catalog
from sync.inventory.db import read_conn
from sync.inventory.events import event_row, write_events
from sync.inventory.paging import int_cursor, page
from sync.inventory.purchasing.schemas import PurchaseOrderIn, PurchaseOrderPatch, ReceiptIn
from sync.inventory.purchasing.suppliers import supplier_by_code
from sync.inventory.serialize import iso, num
from sync.inventory.store.plan import MovementPlan, Step
from sync.inventory.store.sql import execute
from sync.inventory.tables import locations, purchase_order_lines, purchase_orders, skus, suppliers

P = purchase_orders.c
PL = purchase_order_lines.c
#: statuses whose outstanding units count as incoming
ON_ORDER = ("approved", "sent", "partially_received")


def _now() -> datetime:
    return datetime.now(UTC)


def _order_row(conn: Connection, po_id: int) -> Any:
    row = conn.execute(sa.select(purchase_orders).where(P.id == po_id)).first()
    if row is None:
        raise NotFound(f"purchase order {po_id} not found", details={"field": "id"})
    return row


def _transition(conn: Connection, po_id: int, allowed: tuple[str, ...], new_status: str, **values: Any) -> Any:
    """Move an order to ``new_status`` if it is in one of ``allowed``; 404 or 409 naming its status otherwise."""
    stmt = (sa.update(purchase_orders).where(P.id == po_id, P.status.in_(allowed))
            .values(status=new_status, **values).returning(*purchase_orders.c))
    row = conn.execute(stmt).first()
    if row is None:
        current = _order_row(conn, po_id)
        raise Conflict(f"purchase order {po_id} is {current.status}: it cannot become {new_status}",
                       details={"status": current.status, "allowed_from": list(allowed)}, code="invalid_status")
    return row


def order_out(conn: Connection, row: Any) -> dict[str, Any]:
    supplier = conn.execute(sa.select(suppliers.c.code).where(suppliers.c.id == row.supplier_id)).scalar_one()
    location = conn.execute(sa.select(locations.c.code).where(locations.c.id == row.location_id)).scalar_one()
    lines = []
    value = 0.0
    query = (sa.select(PL.quantity, PL.received, PL.unit_cost, PL.reason, skus.c.code)
             .join(skus, skus.c.id == PL.sku_id).where(PL.po_id == row.id).order_by(PL.id))
    for line in conn.execute(query):
        cost = num(line.unit_cost)
        value += (cost or 0.0) * int(line.quantity)
        lines.append({"sku": line.code, "quantity": int(line.quantity), "received": int(line.received),
                      "outstanding": int(line.quantity) - int(line.received), "unit_cost": cost,
                      "reason": json.loads(line.reason) if line.reason else None})
    return {"id": int(row.id), "supplier": supplier, "location": location, "status": row.status,
            "reference": row.reference, "note": row.note, "plan_id": row.plan_id,
            "expected_at": row.expected_at.isoformat() if row.expected_at else None,
            "created_by": row.created_by, "created_at": iso(row.created_at), "approved_at": iso(row.approved_at),
            "sent_at": iso(row.sent_at), "closed_at": iso(row.closed_at), "value": round(value, 4), "lines": lines}


def create(conn: Connection, catalog: Catalog, body: PurchaseOrderIn, actor: str | None) -> dict[str, Any]:
    now = _now()
    supplier = supplier_by_code(conn, body.supplier)
    location = catalog.location(body.location, conn=conn)
    refs = [catalog.sku(line.sku, field=f"lines[{i}].sku", conn=conn) for i, line in enumerate(body.lines)]
    expected = body.expected_at or (now.date() + timedelta(days=int(supplier.lead_time_days)))
    po_id = conn.execute(sa.insert(purchase_orders).values(
        supplier_id=supplier.id, location_id=location.id, status="draft", reference=body.reference,
        note=body.note, plan_id=body.plan_id, expected_at=expected, created_by=actor, created_at=now,
    ).returning(P.id)).scalar_one()
    conn.execute(sa.insert(purchase_order_lines), [
        {"po_id": po_id, "sku_id": ref.id, "quantity": line.quantity, "received": 0,
         "unit_cost": line.unit_cost, "reason": json.dumps(line.reason) if line.reason is not None else None}
        for ref, line in zip(refs, body.lines, strict=True)])
    out = order_out(conn, _order_row(conn, po_id))
    write_events(conn, [event_row("po.created", out, now)])
    return out


def update(conn: Connection, catalog: Catalog, po_id: int, body: PurchaseOrderPatch) -> dict[str, Any]:
    """Change line quantities of a draft order."""
    row = _transition(conn, po_id, ("draft",), "draft")
    for i, line in enumerate(body.lines):
        ref = catalog.sku(line.sku, field=f"lines[{i}].sku", conn=conn)
        changed = conn.execute(sa.update(purchase_order_lines).where(PL.po_id == po_id, PL.sku_id == ref.id)
                               .values(quantity=line.quantity)).rowcount
        if not changed:
            raise ValidationFailed(f"lines[{i}].sku: {line.sku!r} is not on purchase order {po_id}",
                                   details=[{"field": f"lines[{i}].sku", "problem": "not on this order"}])
    out = order_out(conn, row)
    write_events(conn, [event_row("po.updated", out, _now())])
    return out


def _incoming(conn: Connection, catalog: Catalog, sku_id: int, location_id: int, qty: int, now: datetime) -> None:
    """Units on order at a level: ``incoming`` changes by ``qty`` (a guard-free step, no ledger row)."""
    levels.change(conn, catalog.sku_by_id(sku_id, conn), catalog.location_by_id(location_id, conn), now,
                  incoming=qty)


def _lines(conn: Connection, po_id: int) -> list[Any]:
    return list(conn.execute(sa.select(PL.sku_id, PL.quantity, PL.received).where(PL.po_id == po_id)))


def approve(conn: Connection, catalog: Catalog, po_id: int) -> dict[str, Any]:
    """Approved units are on order: they count as ``incoming`` until received or cancelled."""
    now = _now()
    row = _transition(conn, po_id, ("draft",), "approved", approved_at=now)
    for line in sorted(_lines(conn, po_id), key=lambda r: r.sku_id):  # lock level rows in one order
        _incoming(conn, catalog, int(line.sku_id), int(row.location_id), int(line.quantity), now)
    out = order_out(conn, row)
    write_events(conn, [event_row("po.approved", out, now)])
    return out


def send(conn: Connection, po_id: int) -> dict[str, Any]:
    now = _now()
    row = _transition(conn, po_id, ("approved",), "sent", sent_at=now)
    out = order_out(conn, row)
    write_events(conn, [event_row("po.sent", out, now)])
    return out


def receive(conn: Connection, catalog: Catalog, po_id: int, body: ReceiptIn, actor: str | None) -> dict[str, Any]:
    """Receive some or all outstanding units: each line a receipt movement, in one transaction."""
    now = _now()
    order = _order_row(conn, po_id)
    if order.status not in ON_ORDER:
        raise Conflict(f"purchase order {po_id} is {order.status}: nothing can be received on it",
                       details={"status": order.status}, code="invalid_status")
    location = catalog.location_by_id(int(order.location_id), conn)
    movements = []
    for i, line in enumerate(body.lines):
        ref = catalog.sku(line.sku, field=f"lines[{i}].sku", conn=conn)
        taken = conn.execute(
            sa.update(purchase_order_lines)
            .where(PL.po_id == po_id, PL.sku_id == ref.id, PL.received + line.quantity <= PL.quantity)
            .values(received=PL.received + line.quantity).returning(PL.quantity, PL.received)).first()
        if taken is None:
            existing = conn.execute(sa.select(PL.quantity, PL.received)
                                    .where(PL.po_id == po_id, PL.sku_id == ref.id)).first()
            if existing is None:
                raise ValidationFailed(f"lines[{i}].sku: {line.sku!r} is not on purchase order {po_id}",
                                       details=[{"field": f"lines[{i}].sku", "problem": "not on this order"}])
            outstanding = int(existing.quantity) - int(existing.received)
            raise Conflict(f"lines[{i}].quantity: {line.quantity} is more than the {outstanding} outstanding "
                           f"for {line.sku}", code="over_receipt",
                           details={"field": f"lines[{i}].quantity", "outstanding": outstanding,
                                    "requested": line.quantity})
        # one step: the units arrive on hand and leave incoming, with their receipt row in the ledger
        plan = MovementPlan((Step(ref, location, on_hand=line.quantity, incoming=-line.quantity,
                                  ledger_type="receipt"),), now, reference=body.reference or f"PO-{po_id}",
                            actor=actor)
        movements.append(execute(conn, plan)["movement"])
    remaining = sum(int(r.quantity) - int(r.received) for r in _lines(conn, po_id))
    status = "received" if remaining == 0 else "partially_received"
    row = _transition(conn, po_id, ON_ORDER, status, **({"closed_at": now} if remaining == 0 else {}))
    out = order_out(conn, row)
    write_events(conn, [event_row("po.received", out | {"movements": [m["id"] for m in movements]}, now)])
    return out | {"movements": movements}


def cancel(conn: Connection, catalog: Catalog, po_id: int) -> dict[str, Any]:
    """Cancel what is not received yet; units on order stop counting as incoming."""
    now = _now()
    before = _order_row(conn, po_id)
    row = _transition(conn, po_id, ("draft", *ON_ORDER), "cancelled", closed_at=now)
    if before.status in ON_ORDER:
        for line in sorted(_lines(conn, po_id), key=lambda r: r.sku_id):
            outstanding = int(line.quantity) - int(line.received)
            if outstanding:
                _incoming(conn, catalog, int(line.sku_id), int(row.location_id), -outstanding, now)
    out = order_out(conn, row)
    write_events(conn, [event_row("po.cancelled", out, now)])
    return out


def get(engine: Engine, po_id: int) -> dict[str, Any]:
    with read_conn(engine) as conn:
        return order_out(conn, _order_row(conn, po_id))


def list_orders(engine: Engine, *, status: str | None, supplier: str | None, sku: str | None, limit: int,
                cursor: str | None) -> dict[str, Any]:
    query = sa.select(purchase_orders).order_by(P.id.desc()).limit(limit + 1)
    if status:
        query = query.where(P.status.in_(status.split(",")))
    if supplier:
        query = query.join(suppliers, suppliers.c.id == P.supplier_id).where(suppliers.c.code == supplier)
    if sku:
        query = query.where(P.id.in_(sa.select(PL.po_id).join(skus, skus.c.id == PL.sku_id)
                                     .where(skus.c.code == sku)))
    if cursor:
        query = query.where(P.id < int_cursor(cursor))
    with read_conn(engine) as conn:
        rows = list(conn.execute(query))
        return page(rows, limit, lambda r: order_out(conn, r), lambda r: r.id)


def on_order(engine: Engine) -> dict[str, Any]:
    """Outstanding units per SKU and location on approved, sent and partly received orders, with the earliest
    expected arrival (what a planning run needs besides the levels)."""
    query = (sa.select(skus.c.code.label("sku"), locations.c.code.label("location"),
                       sa.func.sum(PL.quantity - PL.received).label("outstanding"),
                       sa.func.min(P.expected_at).label("expected_at"))
             .select_from(purchase_order_lines.join(purchase_orders, P.id == PL.po_id)
                          .join(skus, skus.c.id == PL.sku_id).join(locations, locations.c.id == P.location_id))
             .where(P.status.in_(ON_ORDER), PL.quantity > PL.received)
             .group_by(skus.c.code, locations.c.code).order_by(skus.c.code, locations.c.code))
    with read_conn(engine) as conn:
        items = [{"sku": r.sku, "location": r.location, "outstanding": int(r.outstanding),
                  "expected_at": r.expected_at.isoformat() if isinstance(r.expected_at, date) else r.expected_at}
                 for r in conn.execute(query)]
    return {"items": items}
