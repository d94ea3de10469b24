"""SKUs and locations: create, list, and an in-process cache of code -> id.

SKUs and locations are never deleted or renamed, so a cached id is valid for the life of the
process; a miss falls through to the database (another replica may have created the code).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError

from sync.errors import Conflict, ValidationFailed
from sync.inventory.db import read_conn
from sync.inventory.events import event_row, write_events
from sync.inventory.schemas import LocationIn, SkuIn
from sync.inventory.serialize import location_out, sku_out
from sync.inventory.tables import locations, skus


@dataclass(frozen=True, slots=True)
class SkuRef:
    id: int
    code: str
    reorder_point: int


@dataclass(frozen=True, slots=True)
class LocationRef:
    id: int
    code: str
    allow_negative: bool


class Catalog:
    """Resolves codes to ids, caching hits. Unknown codes are a 422 naming the field."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._skus: dict[str, SkuRef] = {}
        self._locations: dict[str, LocationRef] = {}
        self._sku_codes: dict[int, str] = {}
        self._location_codes: dict[int, str] = {}

    def cached_sku(self, code: str) -> SkuRef | None:
        return self._skus.get(code)

    def cached_location(self, code: str) -> LocationRef | None:
        return self._locations.get(code)

    def sku(self, code: str, *, field: str = "sku", conn: Connection | None = None) -> SkuRef:
        ref = self._skus.get(code)
        if ref is None:
            query = sa.select(skus.c.id, skus.c.code, skus.c.reorder_point).where(skus.c.code == code)
            row = self._fetch(query, conn)
            if row is None:
                raise ValidationFailed(f"{field}: unknown SKU {code!r}",
                                       details=[{"field": field, "problem": f"unknown SKU {code!r}"}])
            ref = SkuRef(int(row.id), row.code, int(row.reorder_point))
            self._skus[code] = ref
            self._sku_codes[ref.id] = code
        return ref

    def forget_sku(self, code: str) -> None:
        """Drop a cached SKU whose parameters changed (``PATCH /skus``); the next use reads it afresh."""
        ref = self._skus.pop(code, None)
        if ref is not None:
            self._sku_codes.pop(ref.id, None)

    def location(self, code: str, *, field: str = "location", conn: Connection | None = None) -> LocationRef:
        ref = self._locations.get(code)
        if ref is None:
            query = sa.select(locations.c.id, locations.c.code, locations.c.allow_negative).where(
                locations.c.code == code)
            row = self._fetch(query, conn)
            if row is None:
                raise ValidationFailed(f"{field}: unknown location {code!r}",
                                       details=[{"field": field, "problem": f"unknown location {code!r}"}])
            ref = LocationRef(int(row.id), row.code, bool(row.allow_negative))
            self._locations[code] = ref
            self._location_codes[ref.id] = code
        return ref

    def _fetch(self, query: sa.Select[Any], conn: Connection | None) -> Any:
        if conn is not None:
            return conn.execute(query).first()
        with read_conn(self.engine) as c:
            return c.execute(query).first()

    def sku_by_id(self, sku_id: int, conn: Connection) -> SkuRef:
        code = self._sku_codes.get(sku_id)
        if code is None:
            code = conn.execute(sa.select(skus.c.code).where(skus.c.id == sku_id)).scalar_one()
        return self.sku(code, conn=conn)

    def location_by_id(self, location_id: int, conn: Connection) -> LocationRef:
        code = self._location_codes.get(location_id)
        if code is None:
            code = conn.execute(sa.select(locations.c.code).where(locations.c.id == location_id)).scalar_one()
        return self.location(code, conn=conn)


def _now() -> datetime:
    return datetime.now(UTC)


def create_sku(conn: Connection, body: SkuIn) -> dict[str, Any]:
    now = _now()
    try:
        with conn.begin_nested():
            row = conn.execute(skus.insert().values(**body.model_dump(), created_at=now).returning(*skus.c)).one()
    except IntegrityError as exc:
        raise Conflict(f"SKU {body.code!r} already exists", details={"field": "code"},
                       code="already_exists") from exc
    out = sku_out(row)
    write_events(conn, [event_row("sku.created", out, now)])
    return out


def create_location(conn: Connection, body: LocationIn) -> dict[str, Any]:
    now = _now()
    try:
        with conn.begin_nested():
            row = conn.execute(locations.insert().values(**body.model_dump(), created_at=now)
                               .returning(*locations.c)).one()
    except IntegrityError as exc:
        raise Conflict(f"location {body.code!r} already exists", details={"field": "code"},
                       code="already_exists") from exc
    out = location_out(row)
    write_events(conn, [event_row("location.created", out, now)])
    return out
