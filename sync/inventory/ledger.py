"""Stock movements: one transaction writes the ledger row(s), the cached level(s) and the events.

The ledger is append-only: corrections are new movements. ``quantity`` in the ledger is the signed
change of on_hand; ``on_hand_after`` is the cached level right after this movement.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from sync.inventory import levels
from sync.inventory.catalog import Catalog, LocationRef, SkuRef
from sync.inventory.events import event_row, level_events, write_events
from sync.inventory.schemas import MovementIn
from sync.inventory.serialize import level_out, movement_out
from sync.inventory.tables import movements


def insert_movement(conn: Connection, *, type_: str, sku: SkuRef, location: LocationRef, quantity: int,
                    on_hand_after: int, reason: str | None, reference: str | None, actor: str | None,
                    now: datetime) -> dict[str, Any]:
    values = {"type": type_, "sku_id": sku.id, "location_id": location.id, "quantity": quantity,
              "on_hand_after": on_hand_after, "reason": reason, "reference": reference, "actor": actor,
              "created_at": now}
    movement_id = conn.execute(sa.insert(movements).values(**values).returning(movements.c.id)).scalar_one()
    return movement_out(id=movement_id, type=type_, sku=sku.code, location=location.code, quantity=quantity,
                        on_hand_after=on_hand_after, reason=reason, reference=reference, actor=actor,
                        created_at=now)


def record(conn: Connection, *, type_: str, sku: SkuRef, location: LocationRef, delta: int,
           level: levels.Level, reason: str | None, reference: str | None, actor: str | None,
           now: datetime, events: list[dict[str, Any]], delta_available: int | None = None,
           ) -> tuple[dict[str, Any], dict[str, Any]]:
    """Append the ledger row for a level change already applied, and queue its events."""
    movement = insert_movement(conn, type_=type_, sku=sku, location=location, quantity=delta,
                               on_hand_after=level.on_hand, reason=reason, reference=reference, actor=actor,
                               now=now)
    level_dict = level_out(sku.code, location.code, level.on_hand, level.reserved, level.incoming,
                           level.updated_at)
    events.append(event_row("movement.created", movement, now))
    events.extend(level_events(level_dict, delta if delta_available is None else delta_available,
                               sku.reorder_point, now, {"movement_id": movement["id"], "type": type_}))
    return movement, level_dict


def _change(conn: Connection, sku: SkuRef, location: LocationRef, delta: int, now: datetime) -> levels.Level:
    if delta > 0:
        return levels.add_on_hand(conn, sku.id, location.id, delta, now)
    return levels.take_on_hand(conn, sku.id, location.id, -delta, now, allow_negative=location.allow_negative,
                               sku=sku.code, location=location.code)


def apply_movement(conn: Connection, catalog: Catalog, body: MovementIn, actor: str | None) -> dict[str, Any]:
    """Apply one POST /movements body; raises Conflict (409) when stock is short, writing nothing."""
    now = datetime.now(UTC)
    sku = catalog.sku(body.sku, conn=conn)
    source = catalog.location(body.location, conn=conn)
    events: list[dict[str, Any]] = []
    q = body.quantity
    if body.type == "transfer":
        assert body.to_location is not None
        dest = catalog.location(body.to_location, field="to_location", conn=conn)
        # Lock the two level rows in id order so opposite transfers cannot deadlock.
        steps = sorted([(source, -q), (dest, q)], key=lambda step: step[0].id)
        applied = {loc.id: _change(conn, sku, loc, delta, now) for loc, delta in steps}
        out = record(conn, type_="transfer_out", sku=sku, location=source, delta=-q, level=applied[source.id],
                     reason=body.reason, reference=body.reference, actor=actor, now=now, events=events)
        inn = record(conn, type_="transfer_in", sku=sku, location=dest, delta=q, level=applied[dest.id],
                     reason=body.reason, reference=body.reference, actor=actor, now=now, events=events)
        write_events(conn, events)
        return {"movements": [out[0], inn[0]], "levels": [out[1], inn[1]]}
    if body.type in ("receipt", "return") or (body.type == "adjustment" and body.direction == "increase"):
        delta = q
    else:
        delta = -q
    level = _change(conn, sku, source, delta, now)
    movement, level_dict = record(conn, type_=body.type, sku=sku, location=source, delta=delta, level=level,
                                  reason=body.reason, reference=body.reference, actor=actor, now=now,
                                  events=events)
    write_events(conn, events)
    return {"movement": movement, "level": level_dict}
