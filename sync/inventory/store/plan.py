"""The movement plan: what a stock write changes, its guard, its events and its response, in pure Python.

A plan is built from a request before any database is touched (``plan_movement``). Both stores execute
the same plan (``store/sql.py`` statement by statement, ``store/postgres.py`` in one statement) and
build the events and the response with the same functions here (``events``, ``response``), from what the
database returned (:class:`Applied`). The rules live once:

- the direction rule (which movement types add to on_hand): :func:`on_hand_sign`;
- the guard (how much must be available before a step): :attr:`Step.need`;
- the low / out-of-stock thresholds: ``events.crossings``, as ranges of the available quantity after
  the step, which Python evaluates here and the single statement evaluates in SQL (``BETWEEN``);
- the response and event shapes: ``serialize.level_out`` / ``movement_out``.

A new kind of write that moves stock (say a purchase-order receipt that also updates its order line)
is a plan whose steps change ``on_hand`` / ``incoming`` and whose ``also`` does the extra write in the
same transaction; every store runs it, no store needs its own copy.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.engine import Connection

from sync.inventory.catalog import LocationRef, SkuRef
from sync.inventory.events import crossings
from sync.inventory.levels import Level
from sync.inventory.schemas import MovementIn
from sync.inventory.serialize import iso, level_out, movement_out

ALWAYS = (-(2**62), 2**62)  # an unconditional event's range of "available after"


def on_hand_sign(type_: str, direction: str | None = None) -> int:
    """+1 for the movement types that add stock (receipt, return, adjustment up), else -1."""
    return 1 if type_ in ("receipt", "return") or (type_ == "adjustment" and direction == "increase") else -1


@dataclass(frozen=True, slots=True)
class Step:
    """One guarded change to one level row, and the ledger row it writes (``ledger_type``; None: none)."""

    sku: SkuRef
    location: LocationRef
    on_hand: int = 0
    reserved: int = 0
    incoming: int = 0
    ledger_type: str | None = None

    @property
    def available(self) -> int:
        """The change of ``available`` (on_hand - reserved) this step makes."""
        return self.on_hand - self.reserved

    @property
    def need(self) -> int | None:
        """How much must be available before the step, or None when it is never refused.

        Only a step that lowers ``available`` is guarded; a location with ``allow_negative`` lets
        movements (not reservations) take it below zero.
        """
        if self.available >= 0 or (self.location.allow_negative and self.reserved == 0):
            return None
        return -self.available


@dataclass(frozen=True, slots=True)
class Applied:
    """What the database returned for one step: the level after it and the ledger row's id."""

    level: Level
    movement_id: int | None = None


@dataclass(frozen=True, slots=True)
class PlannedEvent:
    """An outbox event, written when the available quantity after step ``step`` is in ``[lo, hi]``."""

    type: str
    payload: dict[str, Any]
    step: int = 0
    lo: int = ALWAYS[0]
    hi: int = ALWAYS[1]

    def wanted(self, applied: list[Applied]) -> bool:
        return self.lo <= applied[self.step].level.available <= self.hi


# An extra write in the plan's transaction (e.g. a purchase-order line); returns keys added to the response.
Also = Callable[[Connection, "MovementPlan", list[Applied]], dict[str, Any]]


@dataclass(frozen=True, slots=True)
class MovementPlan:
    steps: tuple[Step, ...]
    now: datetime
    reason: str | None = None
    reference: str | None = None
    actor: str | None = None
    cause: dict[str, Any] = field(default_factory=dict)  # level.changed cause of a step without a ledger row
    also: Also | None = None
    stamp: str = field(init=False)  # ``now`` as the API writes it (computed once)

    def __post_init__(self) -> None:
        object.__setattr__(self, "stamp", iso(self.now))

    def movement(self, i: int, applied: list[Applied]) -> dict[str, Any]:
        step, done = self.steps[i], applied[i]
        assert step.ledger_type is not None and done.movement_id is not None
        return movement_out(id=done.movement_id, type=step.ledger_type, sku=step.sku.code,
                            location=step.location.code, quantity=step.on_hand, on_hand_after=done.level.on_hand,
                            reason=self.reason, reference=self.reference, actor=self.actor, created_at=self.stamp)

    def level(self, i: int, applied: list[Applied]) -> dict[str, Any]:
        step, lvl = self.steps[i], applied[i].level
        return level_out(step.sku.code, step.location.code, lvl.on_hand, lvl.reserved, lvl.incoming, lvl.updated_at)

    def events(self, applied: list[Applied]) -> list[PlannedEvent]:
        """Every event the plan may write, each with its condition; ``wanted`` picks the ones that apply."""
        out: list[PlannedEvent] = []
        for i, step in enumerate(self.steps):
            level = self.level(i, applied)
            cause = self.cause
            if step.ledger_type is not None:
                movement = self.movement(i, applied)
                out.append(PlannedEvent("movement.created", movement, i))
                cause = {"movement_id": movement["id"], "type": step.ledger_type}
            out.append(PlannedEvent("level.changed", level | {"cause": cause}, i))
            for type_, extra, lo, hi in crossings(step.available, step.sku.reorder_point):
                if lo <= hi:
                    out.append(PlannedEvent(type_, level | extra, i, lo, hi))
        return out

    def response(self, applied: list[Applied]) -> dict[str, Any]:
        """``{"movement", "level"}`` for one step (no movement without a ledger row), ``{"movements",
        "levels"}`` for a transfer's two."""
        if len(self.steps) == 1:
            out = {"movement": self.movement(0, applied)} if self.steps[0].ledger_type else {}
            return out | {"level": self.level(0, applied)}
        return {"movements": [self.movement(i, applied) for i in range(len(self.steps))],
                "levels": [self.level(i, applied) for i in range(len(self.steps))]}


def plan_movement(body: MovementIn, sku: SkuRef, location: LocationRef, actor: str | None, *,
                  to_location: LocationRef | None = None, now: datetime | None = None) -> MovementPlan:
    """The plan of one ``POST /movements`` body (codes already resolved by the catalog)."""
    now = now or datetime.now(UTC)
    q = body.quantity
    if body.type == "transfer":
        assert to_location is not None
        steps: tuple[Step, ...] = (Step(sku, location, on_hand=-q, ledger_type="transfer_out"),
                                   Step(sku, to_location, on_hand=q, ledger_type="transfer_in"))
    else:
        steps = (Step(sku, location, on_hand=q * on_hand_sign(body.type, body.direction), ledger_type=body.type),)
    return MovementPlan(steps, now, reason=body.reason, reference=body.reference, actor=actor)
