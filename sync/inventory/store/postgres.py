"""The single-statement store: a one-step movement plan on PostgreSQL in one autocommitted statement.

Data-modifying CTEs do the guarded level ``UPDATE``, the ledger ``INSERT``, the outbox ``INSERT`` and,
with an Idempotency-Key, the key's ``INSERT``; PostgreSQL runs the statement as one transaction with
the same row lock the portable store takes, in one round trip, on :class:`~.pool.AsyncPool`
(no threadpool hop, no ORM layer: this is what reaches the movements-per-second target on two cores).

Nothing about the write is decided in SQL. The plan (``plan.py``) gives the deltas, the guard, the
events with the range of "available after" each is due in, and the response; their JSON is built in
Python by the same functions the portable store uses, from an :class:`~.plan.Applied` whose numbers
are random 18-digit placeholders, and the statement only substitutes the values it returned for those
placeholders (``replace``). The placeholders are drawn at random once per process (``os.urandom``), so
no client string can forge one.

Plans it cannot do in one statement go to the portable store (the parent class), with the same plan:
transfers (two rows), plans with an ``also`` (an extra write), and, after the statement found no row
to update, a missing level row or a refused guard (the portable store creates the row, or builds the
409 with the available quantity).
"""

from __future__ import annotations

import functools
import json
import os
from typing import Any

import psycopg
import sqlalchemy as sa
from psycopg.rows import namedtuple_row
from sqlalchemy.engine import Engine

from sync.inventory.catalog import Catalog
from sync.inventory.events import EVENT_LOCK_ID, EVENT_TYPES
from sync.inventory.idempotency import KeySlot, KeyTaken
from sync.inventory.levels import Level
from sync.inventory.store.plan import ALWAYS, Applied, MovementPlan
from sync.inventory.store.pool import AsyncPool
from sync.inventory.store.sql import SqlStore


def _placeholders() -> dict[str, int]:
    """Random 18-digit numbers in disjoint ranges (so always distinct); ``available`` is on_hand - reserved,
    as ``level_out`` computes it. Two 56-bit draws per process: no client can guess them (they never
    leave the process and the database statement)."""
    a, b = divmod(int.from_bytes(os.urandom(14)), 2**56)
    on_hand, reserved = 900_000_000_000_000_000 + a, 100_000_000_000_000_000 + b
    return {"on_hand": on_hand, "reserved": reserved, "available": on_hand - reserved,
            "incoming": 300_000_000_000_000_000 + a, "movement_id": 500_000_000_000_000_000 + b}


PLACEHOLDERS = _placeholders()


# The placeholders' returned values: (name, SQL expression over the statement's result row ``v``).
_FILLS = (("available", "(v.on_hand - v.reserved)"), ("on_hand", "v.on_hand"), ("reserved", "v.reserved"),
          ("incoming", "v.incoming"), ("movement_id", "v.id"))


def _fill(expr: str) -> str:
    for name, value in _FILLS:
        expr = f"replace({expr}, '{PLACEHOLDERS[name]}', {value}::text)"
    return expr


_BASE = """
WITH lvl AS (
    UPDATE stock_levels SET on_hand = on_hand + %(d_on_hand)s, reserved = reserved + %(d_reserved)s,
           incoming = incoming + %(d_incoming)s, updated_at = %(now)s
    WHERE sku_id = %(sku_id)s AND location_id = %(location_id)s
      AND (%(need)s::bigint IS NULL OR on_hand - reserved >= %(need)s::bigint)
    RETURNING on_hand, reserved, incoming
), mov AS (
    INSERT INTO movements (type, sku_id, location_id, quantity, on_hand_after, reason, reference, actor, created_at)
    SELECT %(type)s, %(sku_id)s, %(location_id)s, %(d_on_hand)s, lvl.on_hand, %(reason)s, %(reference)s,
           %(actor)s, %(now)s FROM lvl
    RETURNING id
), v AS (
    SELECT lvl.on_hand, lvl.reserved, lvl.incoming, mov.id FROM lvl, mov
), lk AS (  -- the outbox writers' shared lock (events.py), taken before the events are inserted
    SELECT pg_advisory_xact_lock_shared(%(event_lock)s::bigint) FROM v
), ev AS (
    INSERT INTO events (type, payload, created_at)
    SELECT e.type, {FILL_EVENT}, %(now)s
    FROM v, lk, (VALUES {EVENT_ROWS}) AS e(type, payload, lo, hi)
    WHERE (v.on_hand - v.reserved) BETWEEN e.lo AND e.hi
)""".replace("{FILL_EVENT}", _fill("e.payload"))

# With an Idempotency-Key: the key and the response are stored by the same statement. A key another
# request stored first makes the key insert do nothing, and the division by zero then aborts the whole
# statement, movement included; the caller replays the stored answer.
_KEYED = """, ik AS (
    INSERT INTO idempotency_keys (key, fingerprint, status_code, response, created_at)
    SELECT %(key)s, %(fingerprint)s, %(status)s, {FILL_RESPONSE}, %(now)s FROM v
    ON CONFLICT (key) DO NOTHING RETURNING 1
)
SELECT v.on_hand, v.reserved, v.incoming, v.id, (SELECT 1 / COUNT(*) FROM ik) FROM v
""".replace("{FILL_RESPONSE}", _fill("%(response)s::text"))


@functools.cache
def statement(events: tuple[tuple[str, bool], ...], keyed: bool) -> str:
    """The statement for a plan's possible events ((type, conditional) pairs), cached per shape: the event
    types and unconditional ranges are literals, the payloads and conditional ranges scalar parameters
    (adapting arrays cost psycopg ~160 us of CPU per request, more than the rest of the request's Python)."""
    assert all(type_ in EVENT_TYPES for type_, _ in events)  # our own constants, safe as SQL literals
    rows = ", ".join(
        f"('{type_}', %(ev_payload{i})s::text, "
        + (f"%(ev_lo{i})s::bigint, %(ev_hi{i})s::bigint)" if conditional else f"{ALWAYS[0]}, {ALWAYS[1]})")
        for i, (type_, conditional) in enumerate(events))
    base = _BASE.replace("{EVENT_ROWS}", rows)
    return base + _KEYED if keyed else base + "\nSELECT v.on_hand, v.reserved, v.incoming, v.id FROM v"


_dumps = json.JSONEncoder(separators=(",", ":")).encode


class PostgresStore(SqlStore):
    """The store on PostgreSQL: one-step movement plans in one statement, the rest as the portable store."""

    name = "single-statement"

    def __init__(self, engine: Engine, catalog: Catalog, pool_size: int = 16) -> None:
        super().__init__(engine, catalog)
        url = engine.url.set(drivername="postgresql")
        self.pool = AsyncPool(url.render_as_string(hide_password=False), pool_size)
        self.single_statements = 0  # plans this store wrote in one statement (the contract tests read it)

    @staticmethod
    def fits(plan: MovementPlan) -> bool:
        return len(plan.steps) == 1 and plan.steps[0].ledger_type is not None and plan.also is None

    async def apply(self, plan: MovementPlan, slot: KeySlot | None = None) -> dict[str, Any]:
        if self.fits(plan):
            done = await self._one_statement(plan, slot)
            if done is not None:
                self.single_statements += 1
                return done
        return await super().apply(plan, slot)

    async def _one_statement(self, plan: MovementPlan, slot: KeySlot | None) -> dict[str, Any] | None:
        """The plan's write in one statement; None when it found no row it may update (nothing written)."""
        step = plan.steps[0]
        ph = PLACEHOLDERS
        template = [Applied(Level(ph["on_hand"], ph["reserved"], ph["incoming"], plan.stamp), ph["movement_id"])]
        events = plan.events(template)
        params: dict[str, Any] = {
            "d_on_hand": step.on_hand, "d_reserved": step.reserved, "d_incoming": step.incoming, "now": plan.now,
            "sku_id": step.sku.id, "location_id": step.location.id, "need": step.need, "type": step.ledger_type,
            "reason": plan.reason, "reference": plan.reference, "actor": plan.actor, "event_lock": EVENT_LOCK_ID,
        }
        shape = []
        for i, event in enumerate(events):
            params[f"ev_payload{i}"] = _dumps(event.payload)
            conditional = (event.lo, event.hi) != ALWAYS
            if conditional:
                params[f"ev_lo{i}"], params[f"ev_hi{i}"] = event.lo, event.hi
            shape.append((event.type, conditional))
        if slot is not None:
            params.update(key=slot.key, fingerprint=slot.fingerprint, status=slot.status,
                          response=_dumps(plan.response(template)))
        async with self.pool.connection() as conn:
            try:
                cursor = await conn.execute(statement(tuple(shape), slot is not None), params)
            except psycopg.errors.DivisionByZero as exc:
                raise KeyTaken from exc
            row = await cursor.fetchone()
        if row is None:
            return None
        on_hand, reserved, incoming, movement_id = row[:4]
        return plan.response([Applied(Level(on_hand, reserved, incoming, plan.stamp), movement_id)])

    async def stored(self, key: str) -> Any:
        async with self.pool.connection() as conn:
            cursor = conn.cursor(row_factory=namedtuple_row)
            await cursor.execute("SELECT fingerprint, status_code, response FROM idempotency_keys WHERE key = %s",
                                 (key,))
            return await cursor.fetchone()

    async def ping(self) -> None:
        """Both paths writes take: the statement pool, then the engine's pool."""
        async with self.pool.connection() as conn:
            await conn.execute("SELECT 1")
        await self.read(lambda conn: conn.execute(sa.text("SELECT 1")))

    async def close(self) -> None:
        await self.pool.close()
        await super().close()
