"""SKUs and locations: create (``create_coded``, also for suppliers) and an in-process cache of code -> id.

SKUs and locations are never deleted or renamed, so a cached id is valid for the life of the
process; a miss falls through to the database (another replica may have created the code).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Generic, Protocol, TypeVar

import sqlalchemy as sa
from pydantic import BaseModel
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


class _HasId(Protocol):
    @property
    def id(self) -> int: ...


Ref = TypeVar("Ref", bound=_HasId)


class _Coded(Generic[Ref]):
    """One table's rows by code, as ``Ref``s, and the code of each id seen: the half of the catalog for
    SKUs or for locations. Rows are never deleted or renamed, so a hit never goes stale (a SKU whose
    parameters change is forgotten, see :meth:`Catalog.forget_sku`)."""

    def __init__(self, engine: Engine, table: sa.Table, columns: tuple[str, ...], make: Callable[[Any], Ref],
                 noun: str) -> None:
        self.engine = engine
        self.table = table
        self.columns = [table.c[name] for name in ("id", "code", *columns)]
        self.make = make
        self.noun = noun
        self.by_code: dict[str, Ref] = {}
        self.codes: dict[int, str] = {}

    def resolve(self, code: str, field: str, conn: Connection | None) -> Ref:
        ref = self.by_code.get(code)
        if ref is None:
            query = sa.select(*self.columns).where(self.table.c.code == code)
            if conn is not None:
                row = conn.execute(query).first()
            else:
                with read_conn(self.engine) as c:
                    row = c.execute(query).first()
            if row is None:
                problem = f"unknown {self.noun} {code!r}"
                raise ValidationFailed(f"{field}: {problem}", details=[{"field": field, "problem": problem}])
            ref = self.by_code[code] = self.make(row)
            self.codes[ref.id] = code
        return ref

    def code_of(self, row_id: int, conn: Connection) -> str:
        code = self.codes.get(row_id)
        if code is None:
            code = conn.execute(sa.select(self.table.c.code).where(self.table.c.id == row_id)).scalar_one()
        return code

    def forget(self, code: str) -> None:
        ref = self.by_code.pop(code, None)
        if ref is not None:
            self.codes.pop(ref.id, None)


class Catalog:
    """Resolves codes to ids, caching hits. Unknown codes are a 422 naming the field."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._skus = _Coded(engine, skus, ("reorder_point",),
                            lambda r: SkuRef(int(r.id), r.code, int(r.reorder_point)), "SKU")
        self._locations = _Coded(engine, locations, ("allow_negative",),
                                 lambda r: LocationRef(int(r.id), r.code, bool(r.allow_negative)), "location")

    def cached_sku(self, code: str) -> SkuRef | None:
        return self._skus.by_code.get(code)

    def cached_location(self, code: str) -> LocationRef | None:
        return self._locations.by_code.get(code)

    def sku(self, code: str, *, field: str = "sku", conn: Connection | None = None) -> SkuRef:
        return self._skus.resolve(code, field, conn)

    def forget_sku(self, code: str) -> None:
        """Drop a cached SKU whose parameters changed (``PATCH /skus``); the next use reads it afresh."""
        self._skus.forget(code)

    def location(self, code: str, *, field: str = "location", conn: Connection | None = None) -> LocationRef:
        return self._locations.resolve(code, field, conn)

    def sku_by_id(self, sku_id: int, conn: Connection) -> SkuRef:
        return self.sku(self._skus.code_of(sku_id, conn), conn=conn)

    def location_by_id(self, location_id: int, conn: Connection) -> LocationRef:
        return self.location(self._locations.code_of(location_id, conn), conn=conn)


def create_coded(conn: Connection, table: sa.Table, body: BaseModel, kind: str,
                 out: Callable[[Any], dict[str, Any]]) -> dict[str, Any]:
    """Insert a row clients name by a unique code (a SKU, a location, a supplier) with its ``{kind}.created``
    event, and answer ``out(row)``; a code already taken is a 409 ``already_exists`` and writes nothing."""
    now = datetime.now(UTC)
    values = body.model_dump()
    try:
        with conn.begin_nested():
            row = conn.execute(table.insert().values(**values, created_at=now).returning(*table.c)).one()
    except IntegrityError as exc:
        raise Conflict(f"{kind} {values['code']!r} already exists", details={"field": "code"},
                       code="already_exists") from exc
    created = out(row)
    write_events(conn, [event_row(f"{kind.lower()}.created", created, now)])
    return created


def create_sku(conn: Connection, body: SkuIn) -> dict[str, Any]:
    return create_coded(conn, skus, body, "SKU", sku_out)


def create_location(conn: Connection, body: LocationIn) -> dict[str, Any]:
    return create_coded(conn, locations, body, "location", location_out)
