"""Read side: SKUs, locations, levels and the ledger, as cursor-paginated lists.

A level read is one indexed row of ``stock_levels`` (the cached level), never a sum over the ledger,
so its cost does not grow with the ledger.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from sync.errors import NotFound, ValidationFailed
from sync.inventory.catalog import Catalog
from sync.inventory.db import read_conn
from sync.inventory.paging import by_code, int_cursor, page
from sync.inventory.serialize import level_out, location_out, movement_out, sku_out
from sync.inventory.tables import locations, movements, skus, stock_levels

MOVEMENT_TYPES = ("receipt", "shipment", "adjustment", "transfer_out", "transfer_in", "return")


def list_skus(engine: Engine, limit: int, cursor: str | None) -> dict[str, Any]:
    return by_code(engine, skus, limit, cursor, lambda _, row: sku_out(row))


def get_sku(engine: Engine, code: str) -> dict[str, Any]:
    with read_conn(engine) as conn:
        row = conn.execute(sa.select(skus).where(skus.c.code == code)).first()
    if row is None:
        raise NotFound(f"SKU {code!r} not found")
    return sku_out(row)


def list_locations(engine: Engine, limit: int, cursor: str | None) -> dict[str, Any]:
    return by_code(engine, locations, limit, cursor, lambda _, row: location_out(row))


def list_levels(engine: Engine, catalog: Catalog, *, sku: str | None, location: str | None, limit: int,
                cursor: str | None) -> dict[str, Any]:
    lv = stock_levels.c
    query = _of_sku_location(stock_levels, (lv.on_hand, lv.reserved, lv.incoming, lv.updated_at), catalog,
                             sku=sku, location=location, limit=limit, cursor=cursor)
    return _read_page(engine, query, limit,
                      lambda r: level_out(r.sku, r.location, r.on_hand, r.reserved, r.incoming, r.updated_at))


def list_movements(engine: Engine, catalog: Catalog, *, sku: str | None, location: str | None,
                   type_: str | None, since: datetime | None, until: datetime | None, limit: int,
                   cursor: str | None) -> dict[str, Any]:
    m = movements.c
    query = _of_sku_location(movements, (m.type, m.quantity, m.on_hand_after, m.reason, m.reference, m.actor,
                                         m.created_at), catalog, sku=sku, location=location, limit=limit,
                             cursor=cursor)
    if type_ is not None:
        if type_ not in MOVEMENT_TYPES:
            raise ValidationFailed(f"type: must be one of {MOVEMENT_TYPES}",
                                   details=[{"field": "type", "problem": "unknown movement type"}])
        query = query.where(m.type == type_)
    if since is not None:
        query = query.where(m.created_at >= _utc(since, "since"))
    if until is not None:
        query = query.where(m.created_at < _utc(until, "until"))
    return _read_page(engine, query, limit, lambda r: movement_out(**r._asdict()))


def _of_sku_location(table: sa.Table, columns: tuple[sa.ColumnElement[Any], ...], catalog: Catalog, *,
                     sku: str | None, location: str | None, limit: int, cursor: str | None) -> sa.Select[Any]:
    """One page of ``table``'s rows (stock levels, movements) in id order after ``cursor``, with their
    ``id``, their SKU's and location's codes (as ``sku`` and ``location``) and ``columns``; only those of
    ``sku`` and of ``location`` when given (an unknown code is a 422 naming the filter)."""
    c = table.c
    query = (sa.select(c.id, skus.c.code.label("sku"), locations.c.code.label("location"), *columns)
             .join(skus, skus.c.id == c.sku_id).join(locations, locations.c.id == c.location_id)
             .where(c.id > int_cursor(cursor)).order_by(c.id).limit(limit + 1))
    if sku is not None:
        query = query.where(c.sku_id == catalog.sku(sku).id)
    if location is not None:
        query = query.where(c.location_id == catalog.location(location).id)
    return query


def _read_page(engine: Engine, query: sa.Select[Any], limit: int, out: Callable[[Any], dict[str, Any]],
               ) -> dict[str, Any]:
    with read_conn(engine) as conn:
        rows = list(conn.execute(query))
    return page(rows, limit, out, lambda r: r.id)


def _utc(value: datetime, field: str) -> datetime:
    try:  # 0001-01-01T00:00+23:59 is before year 1 in UTC
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    except OverflowError as exc:
        raise ValidationFailed(f"{field}: out of range in UTC",
                               details=[{"field": field, "problem": "out of range"}]) from exc
