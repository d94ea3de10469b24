"""The portable store: SQLAlchemy Core on SQLite or PostgreSQL, one write transaction per request.

``execute`` runs a :class:`~sync.inventory.store.plan.MovementPlan` statement by statement inside the
caller's transaction: the guarded level changes (``levels.change``, in location-id order so opposite
transfers cannot deadlock), the ledger rows, the plan's ``also``, then the events. ``SqlStore`` is the
async face the routes use: every call runs in the threadpool, database failures come back as 503.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from starlette.concurrency import run_in_threadpool

from sync.inventory import levels
from sync.inventory.catalog import Catalog, LocationRef, SkuRef
from sync.inventory.db import read_conn, write_tx
from sync.inventory.events import event_row, write_events
from sync.inventory.idempotency import KeySlot, stored_row
from sync.inventory.schemas import MovementIn
from sync.inventory.store.plan import Applied, MovementPlan, plan_movement
from sync.inventory.tables import movements

T = TypeVar("T")


def insert_movement(conn: Connection, plan: MovementPlan, i: int, on_hand_after: int) -> int:
    step = plan.steps[i]
    values = {"type": step.ledger_type, "sku_id": step.sku.id, "location_id": step.location.id,
              "quantity": step.on_hand, "on_hand_after": on_hand_after, "reason": plan.reason,
              "reference": plan.reference, "actor": plan.actor, "created_at": plan.now}
    return int(conn.execute(sa.insert(movements).values(**values).returning(movements.c.id)).scalar_one())


def execute(conn: Connection, plan: MovementPlan) -> dict[str, Any]:
    """Apply ``plan`` in the caller's transaction; a refused guard raises the 409 (the caller rolls back)."""
    after: dict[int, levels.Level] = {}
    for i in sorted(range(len(plan.steps)), key=lambda i: plan.steps[i].location.id):
        step = plan.steps[i]
        after[i] = levels.change(conn, step.sku, step.location, plan.now, on_hand=step.on_hand,
                                 reserved=step.reserved, incoming=step.incoming, need=step.need)
    applied = [Applied(after[i], insert_movement(conn, plan, i, after[i].on_hand) if step.ledger_type else None)
               for i, step in enumerate(plan.steps)]
    extra = plan.also(conn, plan, applied) if plan.also is not None else {}
    write_events(conn, [event_row(e.type, e.payload, plan.now) for e in plan.events(applied) if e.wanted(applied)])
    return plan.response(applied) | extra


def resolve(conn: Connection | None, catalog: Catalog, body: MovementIn,
            ) -> tuple[SkuRef, LocationRef, LocationRef | None]:
    """The body's SKU and location(s); an unknown code is a 422 naming the field."""
    sku = catalog.sku(body.sku, conn=conn)
    location = catalog.location(body.location, conn=conn)
    dest = catalog.location(body.to_location, field="to_location", conn=conn) if body.to_location else None
    return sku, location, dest


class SqlStore:
    """The portable implementation of the store interface (see ``store/__init__.py``)."""

    name = "portable"

    def __init__(self, engine: Engine, catalog: Catalog) -> None:
        self.engine = engine
        self.catalog = catalog

    async def plan(self, body: MovementIn, actor: str | None) -> MovementPlan:
        cached = (self.catalog.cached_sku(body.sku), self.catalog.cached_location(body.location),
                  self.catalog.cached_location(body.to_location) if body.to_location else None)
        if cached[0] is None or cached[1] is None or (body.to_location and cached[2] is None):
            cached = await run_in_threadpool(resolve, None, self.catalog, body)
        sku, location, dest = cached
        assert sku is not None and location is not None
        return plan_movement(body, sku, location, actor, to_location=dest)

    async def apply(self, plan: MovementPlan, slot: KeySlot | None = None) -> dict[str, Any]:
        return await self.write(lambda conn: execute(conn, plan), slot)

    async def write(self, work: Callable[[Connection], T], slot: KeySlot | None = None) -> T:
        """Run ``work`` in one write transaction; with ``slot`` its answer is stored under the key there too."""
        def tx(conn: Connection) -> T:
            body = work(conn)
            if slot is not None:
                slot.save(conn, body)  # type: ignore[arg-type]  # a keyed write's answer is a JSON object
            return body

        return await run_in_threadpool(write_tx, self.engine, tx)

    async def stored(self, key: str) -> Any:
        return await self.read(stored_row, key)

    async def read(self, fn: Callable[..., T], *args: Any) -> T:
        def run() -> T:
            with read_conn(self.engine) as conn:
                return fn(conn, *args)

        return await run_in_threadpool(run)

    async def ping(self) -> None:
        await self.read(lambda conn: conn.execute(sa.text("SELECT 1")))

    async def close(self) -> None:
        self.engine.dispose()
