"""The analytics service against the REAL inventory service, both on real ports, over real HTTP.

The inventory service runs on a temporary SQLite database with no demo data; the scenario is created
through its public API, so the ledger timestamps are the inventory service's own. Expected figures
are worked out by hand below (window: 30 days, everything inside it).

    SKU   cost price rop max  movements                                       on hand (WH1+WH2)
    FAST  2    5     5   50   +40, -30 shipped, +2 returned, 4 moved to WH2   8 + 4 = 12
    LOW   10   20    10  -    +12, -8 shipped                                 4
    GONE  3    6     2   -    +5, -5 shipped                                  0
    IDLE  1    2     0   -    +100, -10 adjustment (damaged)                  90
    NEW   7    9     0   -    none                                            0
"""

from __future__ import annotations

import statistics
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from sync.analytics.app import create_app as create_analytics
from sync.clients.inventory import InventoryClient
from sync.inventory.app import create_app as create_inventory
from sync.settings import Settings
from tests.serving import free_port, running

SKUS = [
    {"code": "FAST", "name": "Fast mover", "unit_cost": 2, "price": 5, "reorder_point": 5, "max_qty": 50},
    {"code": "LOW", "name": "Low stock", "unit_cost": 10, "price": 20, "reorder_point": 10},
    {"code": "GONE", "name": "Sold out", "unit_cost": 3, "price": 6, "reorder_point": 2},
    {"code": "IDLE", "name": "Never sells", "unit_cost": 1, "price": 2, "reorder_point": 0},
    {"code": "NEW", "name": "Not yet received", "unit_cost": 7, "price": 9, "reorder_point": 0},
]
MOVES = [
    {"type": "receipt", "sku": "FAST", "location": "WH1", "quantity": 40},
    {"type": "shipment", "sku": "FAST", "location": "WH1", "quantity": 30},
    {"type": "return", "sku": "FAST", "location": "WH1", "quantity": 2},
    {"type": "transfer", "sku": "FAST", "location": "WH1", "to_location": "WH2", "quantity": 4},
    {"type": "receipt", "sku": "LOW", "location": "WH1", "quantity": 12},
    {"type": "shipment", "sku": "LOW", "location": "WH1", "quantity": 8},
    {"type": "receipt", "sku": "GONE", "location": "WH1", "quantity": 5},
    {"type": "shipment", "sku": "GONE", "location": "WH1", "quantity": 5},
    {"type": "receipt", "sku": "IDLE", "location": "WH1", "quantity": 100},
    {"type": "adjustment", "sku": "IDLE", "location": "WH1", "quantity": 10, "direction": "decrease",
     "reason": "damaged"},
]
COST = {s["code"]: float(s["unit_cost"]) for s in SKUS}


def _start_inventory(tmp: Path) -> Any:
    return create_inventory(Settings(DATABASE_URL=f"sqlite:///{tmp / 'inventory.db'}", DEMO_DATA=False))


def _populate(http: httpx.Client) -> list[dict[str, Any]]:
    """Create the scenario; return the ledger rows the inventory service answered with."""
    for location in ("WH1", "WH2"):
        assert http.post("/locations", json={"code": location, "name": location}).status_code == 201
    for sku in SKUS:
        assert http.post("/skus", json=sku).status_code == 201
    ledger: list[dict[str, Any]] = []
    for body in MOVES:
        resp = http.post("/movements", json=body)
        assert resp.status_code == 201, resp.text
        answer = resp.json()
        ledger.extend(answer["movements"] if "movements" in answer else [answer["movement"]])
    return ledger


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    tmp = tmp_path_factory.mktemp("inventory")
    with running(_start_inventory(tmp), free_port()) as inventory_url:
        with httpx.Client(base_url=inventory_url, timeout=10) as inventory:
            ledger = _populate(inventory)
            analytics_app = create_analytics(Settings(INVENTORY_URL=inventory_url))
            with running(analytics_app, free_port()) as analytics_url, \
                    httpx.Client(base_url=analytics_url, timeout=30) as analytics:
                last = max(datetime.fromisoformat(row["created_at"]) for row in ledger)
                yield {"analytics": analytics, "inventory": inventory, "ledger": ledger, "last": last,
                       "inventory_url": inventory_url}


def _get(stack: dict[str, Any], path: str, **params: Any) -> dict[str, Any]:
    resp = stack["analytics"].get(path, params=params)
    assert resp.status_code == 200, resp.text
    body: dict[str, Any] = resp.json()
    return body


def _average_inventory_value(ledger: list[dict[str, Any]], start: datetime, end: datetime) -> float:
    """Time-weighted stock value over [start, end], walked row by row (stock was 0 before the ledger)."""
    total = 0.0
    for sku, cost in COST.items():
        rows = sorted((r for r in ledger if r["sku"] == sku), key=lambda r: r["id"])
        level, since = 0.0, start
        for row in rows:
            at = datetime.fromisoformat(row["created_at"])
            total += cost * level * (at - since).total_seconds()
            level, since = level + row["quantity"], at
        total += cost * level * (end - since).total_seconds()
    return total / (end - start).total_seconds()


@pytest.mark.slow
def test_health_reports_the_inventory_dependency(stack: dict[str, Any]) -> None:
    body = _get(stack, "/health")
    assert body["status"] == "ok"
    assert body["dependencies"]["inventory"] == {"status": "ok", "url": stack["inventory_url"], "detail": None}


@pytest.mark.slow
def test_metrics_summary(stack: dict[str, Any]) -> None:
    m = _get(stack, "/metrics", window_days=30)
    assert m["sku_count"] == 5
    assert m["units_on_hand"] == 106
    assert m["stock_value_at_cost"] == pytest.approx(12 * 2 + 4 * 10 + 90 * 1)
    assert m["stock_value_at_price"] == pytest.approx(12 * 5 + 4 * 20 + 90 * 2)
    assert m["stockouts"] == 2  # GONE, NEW
    assert m["below_reorder_point"] == 3  # LOW (4 <= 10), GONE (0 <= 2), NEW (0 <= 0)
    assert (m["units_shipped"], m["units_returned"]) == (43, 2)
    assert m["cogs"] == pytest.approx(28 * 2 + 8 * 10 + 5 * 3)  # the adjustment is not demand
    assert m["days_of_supply"] == pytest.approx(154 / (151 / 30))
    assert m["dead_stock"] == {"sku_count": 1, "value": 90.0}
    assert m["slow_stock"] == {"sku_count": 0, "value": 0.0}
    assert m["fill_rate"] is None
    assert datetime.fromisoformat(m["last_activity_at"]) == stack["last"]


@pytest.mark.slow
def test_metrics_turnover_matches_the_ledger_timestamps(stack: dict[str, Any]) -> None:
    as_of = stack["last"] + timedelta(days=1)
    m = _get(stack, "/metrics", window_days=30, as_of=as_of.isoformat())
    start = as_of - timedelta(days=30)
    assert datetime.fromisoformat(m["as_of"]) == as_of
    assert datetime.fromisoformat(m["window_start"]) == start
    expected = _average_inventory_value(stack["ledger"], start, as_of)
    assert m["average_inventory_value"] == pytest.approx(expected, rel=1e-6)
    assert m["inventory_turnover"] == pytest.approx(151 / expected, rel=1e-6)
    assert m["annual_inventory_turnover"] == pytest.approx(151 / expected * 365 / 30, rel=1e-6)


@pytest.mark.slow
def test_metrics_before_anything_happened(stack: dict[str, Any]) -> None:
    first = min(datetime.fromisoformat(r["created_at"]) for r in stack["ledger"])
    m = _get(stack, "/metrics", window_days=7, as_of=(first - timedelta(seconds=1)).isoformat())
    assert m["units_on_hand"] == 0 and m["stock_value_at_cost"] == 0
    assert m["stockouts"] == 5 and m["units_shipped"] == 0 and m["inventory_turnover"] is None


@pytest.mark.slow
def test_per_sku_kpis(stack: dict[str, Any]) -> None:
    body = _get(stack, "/kpis", window_days=30)
    assert body["total"] == 5
    rows = {row["sku"]: row for row in body["items"]}
    fast = rows["FAST"]
    assert (fast["on_hand"], fast["units_shipped"], fast["units_returned"], fast["demand"]) == (12, 30, 2, 28)
    assert fast["position"] == 12 and fast["reorder_point"] == 5 and fast["max_qty"] == 50
    assert fast["days_of_supply"] == pytest.approx(12 / (28 / 30))
    assert fast["movement_class"] == "active" and not fast["below_reorder_point"]
    assert rows["IDLE"]["movement_class"] == "dead" and rows["IDLE"]["days_of_supply"] is None
    assert rows["GONE"]["movement_class"] == "out_of_stock" and rows["GONE"]["stockout"]
    assert rows["NEW"]["turnover"] is None
    assert [r["sku"] for r in body["items"]] == ["FAST", "GONE", "IDLE", "LOW", "NEW"]


@pytest.mark.slow
def test_kpis_filter_sort_and_page(stack: dict[str, Any]) -> None:
    body = _get(stack, "/kpis", sort="stock_value", limit=2)
    assert body["total"] == 5
    assert [r["sku"] for r in body["items"]] == ["IDLE", "LOW"]  # 90, 40 (then FAST 24)
    assert [r["sku"] for r in _get(stack, "/kpis", sort="stock_value", limit=2, offset=2)["items"]] == ["FAST", "GONE"]
    picked = _get(stack, "/kpis", sku="LOW,NEW,NOPE")
    assert [r["sku"] for r in picked["items"]] == ["LOW", "NEW"]
    assert [r["sku"] for r in _get(stack, "/kpis", movement_class="dead")["items"]] == ["IDLE"]


@pytest.mark.slow
def test_reorder_alerts(stack: dict[str, Any]) -> None:
    body = _get(stack, "/reorder-alerts", window_days=30, cover_days=30)
    alerts = {a["sku"]: a for a in body["items"]}
    assert [a["sku"] for a in body["items"]] == ["GONE", "NEW", "LOW"]  # out of stock first
    assert alerts["GONE"]["urgency"] == "out_of_stock"
    assert alerts["GONE"]["suggested_order_qty"] == 2 + 5  # reorder point + 30 days at 5/30 a day
    assert alerts["NEW"]["suggested_order_qty"] == 1  # no demand yet: just above the reorder point
    assert alerts["LOW"]["urgency"] == "below_reorder_point"
    assert alerts["LOW"]["suggested_order_qty"] == 10 + 8 - 4
    assert body["total_order_value"] == pytest.approx(7 * 3 + 1 * 7 + 14 * 10)


@pytest.mark.slow
def test_stock_value_by_location(stack: dict[str, Any]) -> None:
    body = _get(stack, "/stock-value")
    assert [row["location"] for row in body["items"]] == ["WH1", "WH2"]
    wh1, wh2 = body["items"]
    assert (wh1["sku_count"], wh1["units_on_hand"], wh1["stock_value_at_cost"]) == (3, 102, 146)
    assert (wh2["sku_count"], wh2["units_on_hand"], wh2["stock_value_at_cost"]) == (1, 4, 8)
    assert wh1["stock_value_at_price"] == pytest.approx(8 * 5 + 4 * 20 + 90 * 2)
    assert body["total_stock_value_at_cost"] == pytest.approx(154)


@pytest.mark.slow
def test_classification(stack: dict[str, Any]) -> None:
    as_of = stack["last"] + timedelta(days=7)  # the week of the movements is then complete
    body = _get(stack, "/classification", weeks=4, as_of=as_of.isoformat())
    items = {row["sku"]: row for row in body["items"]}
    # 4 weeks scaled to 52: x13. LOW 8 x 10 = 80, FAST 28 x 2 = 56, GONE 5 x 3 = 15 (of 151)
    assert [row["sku"] for row in body["items"]] == ["LOW", "FAST", "GONE", "IDLE", "NEW"]
    assert items["LOW"]["annual_consumption_value"] == pytest.approx(80 * 13)
    assert {s: r["abc"] for s, r in items.items()} == {"LOW": "A", "FAST": "A", "GONE": "B", "IDLE": "C", "NEW": "C"}
    # XYZ from the inventory service's own weekly history, population CV
    history = stack["inventory"].get("/demand-history", params={
        "freq": "W", "start": body["first_week_end"][:10], "end": body["last_week_end"][:10]}).json()["items"]
    for sku in ("LOW", "FAST", "GONE"):
        weekly = [float(h["quantity"]) for h in history if h["sku"] == sku]
        weekly += [0.0] * (4 - len(weekly))
        assert items[sku]["cv"] == pytest.approx(statistics.pstdev(weekly) / statistics.mean(weekly))
    assert items["IDLE"]["cv"] is None and items["IDLE"]["xyz"] == "Z"
    cells = {a + x: c["sku_count"] for a, row in body["matrix"].items() for x, c in row.items()}
    assert sum(cells.values()) == 5 and cells["CZ"] == 2
    assert body["thresholds"] == {"a_share": 0.8, "b_share": 0.95, "x_max": 0.5, "y_max": 1.0}


@pytest.mark.slow
def test_client_follows_cursors_across_pages(stack: dict[str, Any]) -> None:
    with InventoryClient(stack["inventory_url"], timeout=10, page_size=2) as client:
        moves, skus = client.movements(since="2000-01-01T00:00:00+00:00"), client.skus()
    assert [m["id"] for m in moves] == sorted(r["id"] for r in stack["ledger"])
    assert sorted(s["code"] for s in skus) == sorted(s["code"] for s in SKUS)


@pytest.mark.slow
def test_cache_reuses_a_read_and_ttl_zero_sees_every_change(tmp_path: Path) -> None:
    with running(_start_inventory(tmp_path), free_port()) as inventory_url, \
            httpx.Client(base_url=inventory_url, timeout=10) as inventory:
        inventory.post("/locations", json={"code": "WH1", "name": "WH1"})
        inventory.post("/skus", json={"code": "A", "name": "A", "unit_cost": 1})
        cached = create_analytics(Settings(INVENTORY_URL=inventory_url), cache_ttl=3600)
        fresh = create_analytics(Settings(INVENTORY_URL=inventory_url), cache_ttl=0)
        with running(cached, free_port()) as cached_url, running(fresh, free_port()) as fresh_url:
            before = httpx.get(f"{cached_url}/metrics", timeout=10).json()["units_on_hand"]
            receipt = {"type": "receipt", "sku": "A", "location": "WH1", "quantity": 5}
            assert inventory.post("/movements", json=receipt).status_code == 201
            assert httpx.get(f"{cached_url}/metrics", timeout=10).json()["units_on_hand"] == before == 0
            assert httpx.get(f"{fresh_url}/metrics", timeout=10).json()["units_on_hand"] == 5


@pytest.mark.postgres
@pytest.mark.slow
def test_same_figures_with_the_inventory_service_on_postgresql(postgres_url: str) -> None:
    inventory_app = create_inventory(Settings(DATABASE_URL=postgres_url, DEMO_DATA=False))
    with running(inventory_app, free_port()) as inventory_url, \
            httpx.Client(base_url=inventory_url, timeout=10) as inventory:
        ledger = _populate(inventory)
        analytics_app = create_analytics(Settings(INVENTORY_URL=inventory_url))
        with running(analytics_app, free_port()) as analytics_url, \
                httpx.Client(base_url=analytics_url, timeout=30) as analytics:
            last = max(datetime.fromisoformat(row["created_at"]) for row in ledger)
            as_of = last + timedelta(days=1)
            m = analytics.get("/metrics", params={"window_days": 30, "as_of": as_of.isoformat()}).json()
            assert (m["units_on_hand"], m["stockouts"], m["below_reorder_point"]) == (106, 2, 3)
            assert m["cogs"] == pytest.approx(151)
            expected = _average_inventory_value(ledger, as_of - timedelta(days=30), as_of)
            assert m["average_inventory_value"] == pytest.approx(expected, rel=1e-6)
            alerts = analytics.get("/reorder-alerts", params={"window_days": 30}).json()["items"]
            assert [a["sku"] for a in alerts] == ["GONE", "NEW", "LOW"]
