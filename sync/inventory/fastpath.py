"""PostgreSQL single-statement movement: the guarded level update, the ledger row and the outbox events
in one statement (data-modifying CTEs) run in autocommit, so one round trip is one atomic transaction;
PostgreSQL runs the whole statement in one transaction with the same row lock the general path takes.

It is the same change ``ledger.apply_movement`` makes in four statements, for the common case (a
receipt, shipment, return or adjustment at a level row that exists), with or without an
Idempotency-Key (the key and its response are stored by the same statement). When
the guard refuses (short stock) or the level row does not exist yet, it returns ``None`` and the caller
takes the general path, which writes the row or builds the 409 with the available quantity.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import psycopg
from psycopg import pq
from psycopg.rows import namedtuple_row
from sqlalchemy.engine import Engine

from sync.errors import UpstreamUnavailable
from sync.inventory.catalog import Catalog
from sync.inventory.events import EVENT_LOCK_ID
from sync.inventory.idempotency import KeyTaken
from sync.inventory.schemas import MovementIn
from sync.inventory.serialize import iso, level_out, movement_out

_LEVEL_JSON = """json_build_object('sku', %(sku)s::text, 'location', %(location)s::text, 'on_hand', lvl.on_hand,
    'reserved', lvl.reserved, 'available', lvl.on_hand - lvl.reserved, 'incoming', lvl.incoming,
    'updated_at', %(now_iso)s::text)"""

_MOVEMENT_JSON = """json_build_object('id', mov.id, 'type', %(type)s::text, 'sku', %(sku)s::text,
    'location', %(location)s::text, 'quantity', %(delta)s::bigint, 'on_hand_after', mov.on_hand_after,
    'reason', %(reason)s::text, 'reference', %(reference)s::text, 'actor', %(actor)s::text,
    'created_at', %(now_iso)s::text)"""

_BASE = """
WITH lvl AS (
    UPDATE stock_levels SET on_hand = on_hand + %(delta)s, updated_at = %(now)s
    WHERE sku_id = %(sku_id)s AND location_id = %(location_id)s
      AND (%(delta)s >= 0 OR %(allow_negative)s OR on_hand - reserved >= -%(delta)s)
    RETURNING on_hand, reserved, incoming
), mov AS (
    INSERT INTO movements (type, sku_id, location_id, quantity, on_hand_after, reason, reference, actor, created_at)
    SELECT %(type)s, %(sku_id)s, %(location_id)s, %(delta)s, lvl.on_hand, %(reason)s, %(reference)s, %(actor)s,
           %(now)s FROM lvl
    RETURNING id, on_hand_after
), lk AS (  -- the outbox writers' shared lock (events.py), taken before the events are inserted
    SELECT pg_advisory_xact_lock_shared(%(event_lock)s::bigint) FROM mov
), ev AS (
    INSERT INTO events (type, payload, created_at)
    SELECT e.type, e.payload, %(now)s FROM mov, lvl, lk, LATERAL (VALUES
        ('movement.created', {MOVEMENT}::text, true),
        ('level.changed', ({LEVEL}::jsonb || jsonb_build_object('cause',
            json_build_object('movement_id', mov.id, 'type', %(type)s::text)))::text, true),
        ('low_stock', ({LEVEL}::jsonb || jsonb_build_object('reorder_point', %(reorder_point)s::int))::text,
            lvl.on_hand - lvl.reserved <= %(reorder_point)s
            AND lvl.on_hand - lvl.reserved - %(delta)s > %(reorder_point)s),
        ('out_of_stock', {LEVEL}::text,
            lvl.on_hand - lvl.reserved <= 0 AND lvl.on_hand - lvl.reserved - %(delta)s > 0)
    ) AS e(type, payload, wanted) WHERE e.wanted
)"""

SQL = (_BASE + """
SELECT mov.id, lvl.on_hand, lvl.reserved, lvl.incoming FROM mov, lvl
""").replace("{LEVEL}", _LEVEL_JSON).replace("{MOVEMENT}", _MOVEMENT_JSON)

# With an Idempotency-Key: the key and the response (the same JSON the API answers) are stored by the
# same statement. A key another request stored first makes the key insert do nothing, and the division
# by zero then aborts the whole statement, movement included; the caller replays the stored answer.
_KEY_PART = """, ik AS (
    INSERT INTO idempotency_keys (key, fingerprint, status_code, response, created_at)
    SELECT %(key)s, %(fingerprint)s, 201,
           json_build_object('movement', {MOVEMENT}, 'level', {LEVEL})::text, %(now)s FROM mov, lvl
    ON CONFLICT (key) DO NOTHING RETURNING 1
)
SELECT mov.id, lvl.on_hand, lvl.reserved, lvl.incoming, (SELECT 1 / COUNT(*) FROM ik) FROM mov, lvl
"""
SQL_KEYED = "".join((_BASE, _KEY_PART)).replace("{LEVEL}", _LEVEL_JSON).replace("{MOVEMENT}", _MOVEMENT_JSON)


class FastMovements:
    """A small pool of autocommit ``psycopg.AsyncConnection``s running :data:`SQL` on the event loop.

    No threadpool hop and no ORM/Core layer on the hot path: this is what makes the service reach its
    movements-per-second target on two cores. Used only for PostgreSQL.
    """

    def __init__(self, dsn: str, size: int = 16) -> None:
        self.dsn = dsn
        self.size = size
        self._idle: asyncio.LifoQueue[psycopg.AsyncConnection[Any]] = asyncio.LifoQueue()
        self._opened = 0
        self._lock = asyncio.Lock()

    @classmethod
    def for_engine(cls, engine: Engine) -> FastMovements | None:
        if engine.dialect.name != "postgresql":
            return None
        url = engine.url.set(drivername="postgresql")
        return cls(url.render_as_string(hide_password=False))

    async def _acquire(self) -> psycopg.AsyncConnection[Any]:
        if self._idle.empty():
            async with self._lock:
                if self._opened < self.size:
                    self._opened += 1
                    try:
                        return await psycopg.AsyncConnection.connect(self.dsn, autocommit=True)
                    except BaseException:
                        self._opened -= 1
                        raise
        return await self._idle.get()

    async def _release(self, conn: psycopg.AsyncConnection[Any]) -> None:
        if conn.closed or conn.info.transaction_status != pq.TransactionStatus.IDLE:
            self._opened -= 1
            await conn.close()
            return
        self._idle.put_nowait(conn)

    async def close(self) -> None:
        while not self._idle.empty():
            await self._idle.get_nowait().close()
        self._opened = 0

    async def stored(self, key: str) -> Any:
        """The stored idempotency row for ``key`` (fingerprint, status_code, response), or None."""
        conn = await self._acquire()
        try:
            cursor = conn.cursor(row_factory=namedtuple_row)
            await cursor.execute("SELECT fingerprint, status_code, response FROM idempotency_keys WHERE key = %s",
                                 (key,))
            return await cursor.fetchone()
        except psycopg.OperationalError as exc:
            raise UpstreamUnavailable("the inventory database is unavailable", details=str(exc)) from exc
        finally:
            await self._release(conn)

    async def try_movement(self, catalog: Catalog, body: MovementIn, actor: str, *, key: str | None = None,
                           fingerprint: str | None = None) -> dict[str, Any] | None:
        """Apply ``body`` in one autocommitted statement; ``None`` means "use the general path".

        With ``key``, raises :class:`~sync.inventory.idempotency.KeyTaken` when another request stored
        that key first (nothing was written).
        """
        sku = catalog.cached_sku(body.sku)
        location = catalog.cached_location(body.location)
        if sku is None or location is None:
            return None  # the general path resolves (and caches) the codes, or answers 422
        up = body.type in ("receipt", "return") or (body.type == "adjustment" and body.direction == "increase")
        delta = body.quantity if up else -body.quantity
        now = datetime.now(UTC)
        params = {"delta": delta, "now": now, "now_iso": iso(now), "sku_id": sku.id, "location_id": location.id,
                  "allow_negative": location.allow_negative, "type": body.type, "reason": body.reason,
                  "reference": body.reference, "actor": actor, "sku": sku.code, "location": location.code,
                  "reorder_point": sku.reorder_point, "event_lock": EVENT_LOCK_ID, "key": key,
                  "fingerprint": fingerprint}
        conn = await self._acquire()
        try:
            cursor = await conn.execute(SQL if key is None else SQL_KEYED, params)
            row = await cursor.fetchone()
        except psycopg.errors.DivisionByZero as exc:
            raise KeyTaken from exc
        except psycopg.OperationalError as exc:
            raise UpstreamUnavailable("the inventory database is unavailable", details=str(exc)) from exc
        finally:
            await self._release(conn)
        if row is None:
            return None
        movement_id, on_hand, reserved, incoming = row[:4]
        return {"movement": movement_out(id=movement_id, type=body.type, sku=sku.code, location=location.code,
                                         quantity=delta, on_hand_after=on_hand, reason=body.reason,
                                         reference=body.reference, actor=actor, created_at=now),
                "level": level_out(sku.code, location.code, on_hand, reserved, incoming, now)}
