"""Reservations: hold available stock for a while, then commit it (a shipment) or release it.

Each is a movement plan (``store/plan.py``) run in the request's transaction: a step on ``reserved``
(guarded like a shipment when reserving) plus an ``also`` that writes the reservation row.

Status changes are conditional updates (``WHERE status = 'active'``), so a reservation is committed or
released exactly once even when a client, a retry and the expiry sweeper race for it.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from sync.errors import Conflict, NotFound
from sync.inventory.catalog import Catalog, LocationRef, SkuRef
from sync.inventory.db import read_conn, write_tx
from sync.inventory.events import event_row, write_events
from sync.inventory.schemas import ReservationIn
from sync.inventory.serialize import reservation_out
from sync.inventory.store.plan import Applied, MovementPlan, Step
from sync.inventory.store.sql import execute
from sync.inventory.tables import reservations

R = reservations.c


def create(conn: Connection, catalog: Catalog, body: ReservationIn) -> dict[str, Any]:
    now = datetime.now(UTC)
    sku = catalog.sku(body.sku, conn=conn)
    location = catalog.location(body.location, conn=conn)
    values = {"id": str(uuid.uuid4()), "sku_id": sku.id, "location_id": location.id, "quantity": body.quantity,
              "status": "active", "reference": body.reference, "movement_id": None,
              "expires_at": now + timedelta(seconds=body.ttl_seconds), "created_at": now, "closed_at": None}

    def insert(conn: Connection, plan: MovementPlan, applied: list[Applied]) -> dict[str, Any]:
        conn.execute(sa.insert(reservations).values(**values))
        row = conn.execute(sa.select(reservations).where(R.id == values["id"])).one()
        out = reservation_out(row, sku.code, location.code)
        write_events(conn, [event_row("reservation.created", out, now)])
        return {"reservation": out}

    plan = MovementPlan((Step(sku, location, reserved=body.quantity),), now,
                        cause={"reservation_id": values["id"], "type": "reserve"}, also=insert)
    return execute(conn, plan)


def _refs(conn: Connection, catalog: Catalog, row: Any) -> tuple[SkuRef, LocationRef]:
    return catalog.sku_by_id(int(row.sku_id), conn), catalog.location_by_id(int(row.location_id), conn)


def _close(conn: Connection, reservation_id: str, new_status: str, now: datetime, *,
           only_expired: bool = False) -> Any:
    stmt = sa.update(reservations).where(R.id == reservation_id, R.status == "active")
    stmt = stmt.where(R.expires_at <= now) if only_expired else stmt
    row = conn.execute(stmt.values(status=new_status, closed_at=now).returning(*reservations.c)).first()
    if row is None and not only_expired:
        existing = conn.execute(sa.select(R.status).where(R.id == reservation_id)).first()
        if existing is None:
            raise NotFound(f"reservation {reservation_id!r} not found")
        raise Conflict(f"reservation {reservation_id} is already {existing.status}",
                       details={"status": existing.status}, code="reservation_closed")
    return row


def commit(conn: Connection, catalog: Catalog, reservation_id: str, actor: str | None) -> dict[str, Any]:
    """Turn the reservation into a shipment of its quantity. An expired reservation cannot be committed."""
    now = datetime.now(UTC)
    found = conn.execute(sa.select(R.expires_at, R.status).where(R.id == reservation_id)).first()
    if found is not None and found.status == "active":
        expires_at = found.expires_at if found.expires_at.tzinfo else found.expires_at.replace(tzinfo=UTC)
        if expires_at <= now:
            raise Conflict(f"reservation {reservation_id} has expired", code="reservation_expired",
                           details={"expires_at": expires_at.isoformat()})
    row = _close(conn, reservation_id, "committed", now)
    sku, location = _refs(conn, catalog, row)
    qty = int(row.quantity)

    def link(conn: Connection, plan: MovementPlan, applied: list[Applied]) -> dict[str, Any]:
        done = conn.execute(sa.update(reservations).where(R.id == row.id)
                            .values(movement_id=applied[0].movement_id).returning(*reservations.c)).one()
        out = reservation_out(done, sku.code, location.code)
        write_events(conn, [event_row("reservation.committed", out, now)])
        return {"reservation": out}

    # the reserved units leave on_hand: available does not change, so no guard and no threshold event
    plan = MovementPlan((Step(sku, location, on_hand=-qty, reserved=-qty, ledger_type="shipment"),), now,
                        reason="reservation", reference=row.reference or f"reservation:{row.id}", actor=actor,
                        also=link)
    return execute(conn, plan)


def release(conn: Connection, catalog: Catalog, reservation_id: str, *, expired: bool = False,
            ) -> dict[str, Any] | None:
    now = datetime.now(UTC)
    row = _close(conn, reservation_id, "expired" if expired else "released", now, only_expired=expired)
    if row is None:
        return None
    sku, location = _refs(conn, catalog, row)
    out = reservation_out(row, sku.code, location.code)
    write_events(conn, [event_row("reservation.expired" if expired else "reservation.released", out, now)])
    plan = MovementPlan((Step(sku, location, reserved=-int(row.quantity)),), now,
                        cause={"reservation_id": out["id"], "type": out["status"]},
                        also=lambda *_: {"reservation": out})
    return execute(conn, plan)


def get(engine: Engine, catalog: Catalog, reservation_id: str) -> dict[str, Any]:
    with read_conn(engine) as conn:
        row = conn.execute(sa.select(reservations).where(R.id == reservation_id)).first()
        if row is None:
            raise NotFound(f"reservation {reservation_id!r} not found")
        sku, location = _refs(conn, catalog, row)
    return reservation_out(row, sku.code, location.code)


def expire_due(engine: Engine, catalog: Catalog, batch: int = 500) -> int:
    """Release every active reservation past its expiry; returns how many. Run by the service's sweeper."""
    now = datetime.now(UTC)
    with read_conn(engine) as conn:
        due = [r.id for r in conn.execute(sa.select(R.id).where(R.status == "active", R.expires_at <= now)
                                          .order_by(R.expires_at).limit(batch))]
    released = 0
    for reservation_id in due:
        if write_tx(engine, partial(release, catalog=catalog, reservation_id=reservation_id, expired=True)) is not None:
            released += 1
    return released
