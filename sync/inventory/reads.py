"""Read side: SKUs, locations, levels and the ledger, as cursor-paginated lists.

A level read is one indexed row of ``stock_levels`` (the cached level), never a sum over the ledger,
so its cost does not grow with the ledger.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from sync.errors import NotFound, ValidationFailed
from sync.inventory.catalog import Catalog
from sync.inventory.db import read_conn
from sync.inventory.serialize import level_out, location_out, movement_out, sku_out
from sync.inventory.tables import locations, movements, skus, stock_levels

MOVEMENT_TYPES = ("receipt", "shipment", "adjustment", "transfer_out", "transfer_in", "return")


def _page(items: list[dict[str, Any]], limit: int, key: str) -> dict[str, Any]:
    more = len(items) > limit
    items = items[:limit]
    return {"items": items, "next_cursor": str(items[-1][key]) if more and items else None}


def _int_cursor(cursor: str | None) -> int:
    if cursor is None:
        return 0
    try:
        return int(cursor)
    except ValueError:
        raise ValidationFailed("cursor: not a cursor this endpoint returned",
                               details=[{"field": "cursor", "problem": "invalid cursor"}]) from None


def list_skus(engine: Engine, limit: int, cursor: str | None) -> dict[str, Any]:
    query = sa.select(skus).order_by(skus.c.code).limit(limit + 1)
    if cursor:
        query = query.where(skus.c.code > cursor)
    with read_conn(engine) as conn:
        return _page([sku_out(r) for r in conn.execute(query)], limit, "code")


def get_sku(engine: Engine, code: str) -> dict[str, Any]:
    with read_conn(engine) as conn:
        row = conn.execute(sa.select(skus).where(skus.c.code == code)).first()
    if row is None:
        raise NotFound(f"SKU {code!r} not found")
    return sku_out(row)


def list_locations(engine: Engine, limit: int, cursor: str | None) -> dict[str, Any]:
    query = sa.select(locations).order_by(locations.c.code).limit(limit + 1)
    if cursor:
        query = query.where(locations.c.code > cursor)
    with read_conn(engine) as conn:
        return _page([location_out(r) for r in conn.execute(query)], limit, "code")


def list_levels(engine: Engine, catalog: Catalog, *, sku: str | None, location: str | None, limit: int,
                cursor: str | None) -> dict[str, Any]:
    lv = stock_levels.c
    query = (sa.select(lv.id, skus.c.code.label("sku"), locations.c.code.label("location"), lv.on_hand,
                       lv.reserved, lv.incoming, lv.updated_at)
             .join(skus, skus.c.id == lv.sku_id).join(locations, locations.c.id == lv.location_id)
             .where(lv.id > _int_cursor(cursor)).order_by(lv.id).limit(limit + 1))
    if sku is not None:
        query = query.where(lv.sku_id == catalog.sku(sku).id)
    if location is not None:
        query = query.where(lv.location_id == catalog.location(location).id)
    with read_conn(engine) as conn:
        rows = list(conn.execute(query))
    items = [level_out(r.sku, r.location, r.on_hand, r.reserved, r.incoming, r.updated_at) | {"_id": r.id}
             for r in rows]
    page = _page(items, limit, "_id")
    for item in page["items"]:
        del item["_id"]
    return page


def list_movements(engine: Engine, catalog: Catalog, *, sku: str | None, location: str | None,
                   type_: str | None, since: datetime | None, until: datetime | None, limit: int,
                   cursor: str | None) -> dict[str, Any]:
    m = movements.c
    query = (sa.select(m.id, m.type, skus.c.code.label("sku"), locations.c.code.label("location"), m.quantity,
                       m.on_hand_after, m.reason, m.reference, m.actor, m.created_at)
             .join(skus, skus.c.id == m.sku_id).join(locations, locations.c.id == m.location_id)
             .where(m.id > _int_cursor(cursor)).order_by(m.id).limit(limit + 1))
    if sku is not None:
        query = query.where(m.sku_id == catalog.sku(sku).id)
    if location is not None:
        query = query.where(m.location_id == catalog.location(location).id)
    if type_ is not None:
        if type_ not in MOVEMENT_TYPES:
            raise ValidationFailed(f"type: must be one of {MOVEMENT_TYPES}",
                                   details=[{"field": "type", "problem": "unknown movement type"}])
        query = query.where(m.type == type_)
    if since is not None:
        query = query.where(m.created_at >= _utc(since, "since"))
    if until is not None:
        query = query.where(m.created_at < _utc(until, "until"))
    with read_conn(engine) as conn:
        rows = list(conn.execute(query))
    return _page([movement_out(**r._asdict()) for r in rows], limit, "id")


def _utc(value: datetime, field: str) -> datetime:
    try:  # 0001-01-01T00:00+23:59 is before year 1 in UTC
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    except OverflowError as exc:
        raise ValidationFailed(f"{field}: out of range in UTC",
                               details=[{"field": field, "problem": "out of range"}]) from exc
