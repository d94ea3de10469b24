"""One contract, every store: the portable store on SQLite and on PostgreSQL, the single-statement store
on PostgreSQL (real servers). Each test runs against all three through the store interface."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from sync.errors import Conflict
from sync.inventory import catalog as catalog_module
from sync.inventory import migrate, reports
from sync.inventory.catalog import Catalog
from sync.inventory.db import make_engine
from sync.inventory.idempotency import KeySlot, KeyTaken
from sync.inventory.schemas import LocationIn, MovementIn, SkuIn
from sync.inventory.store import Applied, MovementPlan, PostgresStore, SqlStore, Step
from sync.inventory.tables import events, idempotency_keys, movements, stock_levels

#: the PostgreSQL kinds make a new database per test: slow, so ``make test-fast`` runs the SQLite one
KINDS = ["sqlite", pytest.param("postgres-portable", marks=pytest.mark.slow),
         pytest.param("postgres-single", marks=pytest.mark.slow)]


@pytest.fixture(params=KINDS)
def kind(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[str, str]:
    if request.param == "sqlite":
        return request.param, f"sqlite:///{tmp_path / 'inventory.db'}"
    return request.param, str(request.getfixturevalue("postgres_url"))


@asynccontextmanager
async def opened(kind: str, url: str) -> AsyncIterator[SqlStore]:
    engine = make_engine(url)
    migrate.upgrade(engine)
    catalog = Catalog(engine)
    store = PostgresStore(engine, catalog) if kind == "postgres-single" else SqlStore(engine, catalog)
    if kind == "sqlite":
        assert engine.dialect.name == "sqlite"
    try:
        await store.write(lambda c: catalog_module.create_sku(c, SkuIn(code="A", name="a", reorder_point=3)))
        for code, negative in (("WH", False), ("SHOP", False), ("NEG", True)):
            await store.write(lambda c, code=code, negative=negative: catalog_module.create_location(
                c, LocationIn(code=code, name=code, allow_negative=negative)))
        yield store
    finally:
        await store.close()


def run(kind: tuple[str, str], scenario: Callable[[SqlStore], Awaitable[Any]]) -> Any:
    async def main() -> Any:
        async with opened(*kind) as store:
            return await scenario(store)

    return asyncio.run(main())


async def move(store: SqlStore, type_: str, qty: int, location: str = "WH", slot: KeySlot | None = None,
               **extra: Any) -> dict[str, Any]:
    body = MovementIn(type=type_, sku="A", location=location, quantity=qty, **extra)  # type: ignore[arg-type]
    return await store.apply(await store.plan(body, "tester"), slot)


def _state(conn: Connection) -> dict[str, Any]:
    return {
        "levels": [tuple(r) for r in conn.execute(sa.select(stock_levels.c.location_id, stock_levels.c.on_hand,
                                                             stock_levels.c.reserved).order_by("location_id"))],
        "movements": [tuple(r) for r in conn.execute(sa.select(movements.c.type, movements.c.quantity,
                                                                movements.c.on_hand_after).order_by("id"))],
        "events": [(r.type, json.loads(r.payload)) for r in conn.execute(
            sa.select(events.c.type, events.c.payload).order_by(events.c.id))],
        "keys": [(r.key, r.status_code, json.loads(r.response)) for r in conn.execute(
            sa.select(idempotency_keys).order_by(idempotency_keys.c.key))],
    }


async def state(store: SqlStore) -> dict[str, Any]:
    return await store.read(_state)


def test_movements_write_level_ledger_events_and_answer(kind: tuple[str, str]) -> None:
    async def scenario(store: SqlStore) -> None:
        first = await move(store, "receipt", 10)
        second = await move(store, "shipment", 4, reference="SO-1", slot=None)
        assert second["movement"] | {"id": 0, "created_at": ""} == {
            "id": 0, "type": "shipment", "sku": "A", "location": "WH", "quantity": -4, "on_hand_after": 6,
            "reason": None, "reference": "SO-1", "actor": "tester", "created_at": ""}
        assert second["level"] | {"updated_at": ""} == {"sku": "A", "location": "WH", "on_hand": 6, "reserved": 0,
                                                         "available": 6, "incoming": 0, "updated_at": ""}
        assert second["movement"]["id"] > first["movement"]["id"]
        assert second["movement"]["created_at"] == second["level"]["updated_at"]
        now = await state(store)
        assert [m[1:] for m in now["movements"]] == [(10, 10), (-4, 6)]
        assert [e[0] for e in now["events"] if e[0] != "sku.created" and e[0] != "location.created"] == [
            "movement.created", "level.changed", "movement.created", "level.changed"]
        created = [e[1] for e in now["events"] if e[0] == "movement.created"]
        assert created[-1] == second["movement"]  # the event payload is the answer's movement
        changed = [e[1] for e in now["events"] if e[0] == "level.changed"][-1]
        assert changed == second["level"] | {"cause": {"movement_id": second["movement"]["id"], "type": "shipment"}}
        assert (await store.read(lambda c: reports.reconciliation(c.engine)))["ok"]

    run(kind, scenario)


def test_guard_refuses_short_stock_and_writes_nothing(kind: tuple[str, str]) -> None:
    async def scenario(store: SqlStore) -> None:
        await move(store, "receipt", 3)
        await move(store, "shipment", 1)
        before = await state(store)
        with pytest.raises(Conflict) as refused:
            await move(store, "shipment", 5)
        assert refused.value.code == "insufficient_stock"
        assert refused.value.details == {"sku": "A", "location": "WH", "available": 2, "requested": 5}
        with pytest.raises(Conflict):
            await move(store, "adjustment", 3, direction="decrease", reason="damaged")
        with pytest.raises(Conflict):  # no level row at all yet: 0 available
            await move(store, "shipment", 1, location="SHOP")
        assert await state(store) == before

    run(kind, scenario)


def test_threshold_events_when_available_crosses_the_lines(kind: tuple[str, str]) -> None:
    async def scenario(store: SqlStore) -> list[str]:
        await move(store, "receipt", 6)
        for qty in (2, 1, 1, 2):  # 6 -> 4, 3 (low), 2, 0 (out); then one more is refused
            await move(store, "shipment", qty)
        with pytest.raises(Conflict):
            await move(store, "shipment", 1)
        await move(store, "receipt", 10)  # back above: no event for crossing up
        await move(store, "shipment", 10)  # 10 -> 0: low and out in one step
        rows = (await state(store))["events"]
        return [f"{t}:{p['available']}" for t, p in rows if t in ("low_stock", "out_of_stock")]

    assert run(kind, scenario) == ["low_stock:3", "out_of_stock:0", "low_stock:0", "out_of_stock:0"]


def test_allow_negative_location_goes_below_zero(kind: tuple[str, str]) -> None:
    async def scenario(store: SqlStore) -> None:
        first = await move(store, "shipment", 2, location="NEG")  # no row yet: created, then -2
        assert first["level"]["on_hand"] == -2
        second = await move(store, "shipment", 3, location="NEG")
        assert (second["level"]["available"], second["movement"]["on_hand_after"]) == (-5, -5)

    run(kind, scenario)


def test_transfer_moves_between_two_rows(kind: tuple[str, str]) -> None:
    async def scenario(store: SqlStore) -> None:
        await move(store, "receipt", 5)
        done = await move(store, "transfer", 2, to_location="SHOP")
        assert [m["type"] for m in done["movements"]] == ["transfer_out", "transfer_in"]
        assert [(lv["location"], lv["on_hand"]) for lv in done["levels"]] == [("WH", 3), ("SHOP", 2)]
        with pytest.raises(Conflict):
            await move(store, "transfer", 4, to_location="SHOP")

    run(kind, scenario)


def test_keyed_write_stores_its_answer_and_applies_once(kind: tuple[str, str]) -> None:
    async def scenario(store: SqlStore) -> None:
        await move(store, "receipt", 5)
        await move(store, "shipment", 1)  # the level row exists: the single statement takes the keyed write
        slot = KeySlot("k-1", "fp", 201)
        answer = await move(store, "shipment", 2, slot=slot, reason=None)
        after = await state(store)
        assert after["keys"] == [("k-1", 201, answer)]
        with pytest.raises(KeyTaken):
            await move(store, "shipment", 2, slot=slot)
        assert await state(store) == after
        row = await store.stored("k-1")
        assert (row.fingerprint, row.status_code, json.loads(row.response)) == ("fp", 201, answer)

    run(kind, scenario)


def test_client_strings_are_stored_verbatim(kind: tuple[str, str]) -> None:
    async def scenario(store: SqlStore) -> None:
        await move(store, "receipt", 5)
        tricky = '900000000000000001 "}{ \\u0000 %s %(x)s'
        done = await move(store, "shipment", 1, reference=tricky, slot=KeySlot("k", "fp", 201))
        assert done["movement"]["reference"] == tricky
        now = await state(store)
        assert now["keys"][0][2] == done
        assert [p for t, p in now["events"] if t == "movement.created"][-1]["reference"] == tricky

    run(kind, scenario)


@pytest.mark.slow
def test_a_plan_with_an_extra_write_runs_in_the_same_transaction(kind: tuple[str, str]) -> None:
    """The shape of a purchase-order receipt: on_hand up, incoming down, plus its own write, on every store."""
    async def scenario(store: SqlStore) -> None:
        await move(store, "receipt", 1)
        sku, wh = store.catalog.sku("A"), store.catalog.location("WH")
        seen: list[int | None] = []

        def order_line(conn: Connection, plan: MovementPlan, applied: list[Applied]) -> dict[str, Any]:
            seen.append(applied[0].movement_id)
            conn.execute(sa.update(stock_levels).where(stock_levels.c.sku_id == sku.id)
                         .values(incoming=stock_levels.c.incoming + 0))
            return {"order_line": {"received": plan.steps[0].on_hand}}

        plan = MovementPlan((Step(sku, wh, on_hand=4, incoming=-4, ledger_type="receipt"),),
                            (await store.plan(MovementIn(type="receipt", sku="A", location="WH", quantity=1),
                                              None)).now, reference="PO-1", actor="po", also=order_line)
        done = await store.apply(plan)
        assert done["order_line"] == {"received": 4}
        assert (done["level"]["on_hand"], done["level"]["incoming"]) == (5, -4)
        assert seen == [done["movement"]["id"]]
        before = await state(store)

        def refuse(conn: Connection, plan: MovementPlan, applied: list[Applied]) -> dict[str, Any]:
            raise Conflict("order line already received")

        with pytest.raises(Conflict):
            await store.apply(MovementPlan(plan.steps, plan.now, also=refuse))
        assert await state(store) == before  # the level change and the ledger row were rolled back

    run(kind, scenario)


@pytest.mark.slow
def test_every_store_gives_the_same_answers_and_events(tmp_path: Path, postgres_url: str) -> None:
    async def scenario(store: SqlStore) -> list[Any]:
        answers = [await move(store, "receipt", 6), await move(store, "shipment", 3),
                   await move(store, "return", 1, slot=KeySlot("k", "fp", 201)),
                   await move(store, "adjustment", 2, direction="decrease", reason="lost"),
                   await move(store, "transfer", 1, to_location="SHOP")]
        now = await state(store)
        return _normalised([answers, now["events"], now["keys"], now["movements"]])

    reference = run(("sqlite", f"sqlite:///{tmp_path / 'ref.db'}"), scenario)
    import psycopg

    with psycopg.connect(postgres_url, autocommit=True) as admin:
        admin.execute("DROP SCHEMA public CASCADE")
        admin.execute("CREATE SCHEMA public")
    single = run(("postgres-single", postgres_url), scenario)
    assert single == reference


def _normalised(value: Any) -> Any:
    """Ids and timestamps differ between runs; everything else must not."""
    if isinstance(value, dict):
        return {k: ("*" if k in ("id", "movement_id", "created_at", "updated_at") else _normalised(v))
                for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_normalised(v) for v in value]
    return value


@pytest.mark.slow
def test_the_single_statement_store_takes_one_step_movements(postgres_url: str) -> None:
    async def scenario(store: SqlStore) -> tuple[int, int, int]:
        assert isinstance(store, PostgresStore)
        await move(store, "receipt", 5)  # no level row yet: the portable path creates it
        first = store.single_statements
        await move(store, "shipment", 1)
        await move(store, "receipt", 1, slot=KeySlot("k", "fp", 201))
        second = store.single_statements
        await move(store, "transfer", 1, to_location="SHOP")
        with pytest.raises(Conflict):
            await move(store, "shipment", 50)  # refused: the portable path builds the 409
        return first, second, store.single_statements

    assert run(("postgres-single", postgres_url), scenario) == (0, 2, 2)
