"""Analytics over the real inventory service loaded with the bundled Online Retail II sample (demo data).

36 real products, about 22,000 ledger rows dated 2009-2011 (the demo moves them forward by whole weeks so
the history ends last week; the tests undo that shift): KPIs are asked ``as_of`` a date inside that
history, and checked against plain sums over the inventory service's own ledger, read here
through its public API (so the analytics side's paging, rollback to ``as_of`` and vectorised maths are
all tested against a row-by-row oracle on real data).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from sync.analytics.app import create_app as create_analytics
from sync.inventory.app import create_app as create_inventory
from sync.settings import Settings
from tests.serving import free_port, running

pytestmark = pytest.mark.slow

ORIGINAL_AS_OF = datetime.fromisoformat("2011-06-30T00:00:00+00:00")
WINDOW = 90
SAMPLE_CSV = Path(__file__).parents[2] / "sync" / "data" / "online_retail_sample.csv"


def _demo_shift(ledger: list[dict[str, Any]]) -> timedelta:
    """The whole number of weeks the demo moved the sample's dates by (its last sale vs the CSV's)."""
    import pandas as pd

    raw = pd.read_csv(SAMPLE_CSV, usecols=["Quantity", "InvoiceDate"])
    last_sale = pd.to_datetime(raw.loc[raw["Quantity"] > 0, "InvoiceDate"], format="%m/%d/%Y %H:%M").max()
    last_shipment = max(r["at"] for r in ledger if r["type"] == "shipment")
    weeks = round((last_shipment.replace(tzinfo=None) - last_sale.to_pydatetime()).days / 7)
    return timedelta(weeks=weeks)


def _read_all(http: httpx.Client, path: str) -> list[dict[str, Any]]:
    items, cursor = [], None
    while True:
        page = http.get(path, params={"limit": 1000, **({"cursor": cursor} if cursor else {})}).json()
        items.extend(page["items"])
        cursor = page["next_cursor"]
        if not cursor:
            return items


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    db = Path(tmp_path_factory.mktemp("sample")) / "inventory.db"
    inventory_app = create_inventory(Settings(DATABASE_URL=f"sqlite:///{db}", DEMO_DATA=True))
    with running(inventory_app, free_port()) as inventory_url, \
            httpx.Client(base_url=inventory_url, timeout=30) as inventory:
        ledger = _read_all(inventory, "/movements")
        for row in ledger:
            row["at"] = datetime.fromisoformat(row["created_at"])
        skus = {s["code"]: s for s in _read_all(inventory, "/skus")}
        shift = _demo_shift(ledger)
        with running(create_analytics(Settings(INVENTORY_URL=inventory_url)), free_port()) as analytics_url, \
                httpx.Client(base_url=analytics_url, timeout=60) as analytics:
            yield {"analytics": analytics, "inventory": inventory, "ledger": ledger, "skus": skus,
                   "as_of": ORIGINAL_AS_OF + shift, "shift": shift}


def _get(sample: dict[str, Any], path: str, **params: Any) -> dict[str, Any]:
    resp = sample["analytics"].get(path, params=params)
    assert resp.status_code == 200, resp.text
    body: dict[str, Any] = resp.json()
    return body


def test_the_sample_is_big_enough_to_page(sample: dict[str, Any]) -> None:
    assert len(sample["skus"]) == 36
    assert len(sample["ledger"]) > 5000  # several pages of 1000


def test_metrics_as_of_a_date_in_the_history(sample: dict[str, Any]) -> None:
    ledger, skus, as_of = sample["ledger"], sample["skus"], sample["as_of"]
    start = as_of - timedelta(days=WINDOW)
    on_hand: dict[str, float] = defaultdict(float)
    shipped: dict[str, float] = defaultdict(float)
    returned: dict[str, float] = defaultdict(float)
    for row in ledger:
        if row["at"] <= as_of:
            on_hand[row["sku"]] += row["quantity"]
        if start < row["at"] <= as_of:
            if row["type"] == "shipment":
                shipped[row["sku"]] -= row["quantity"]
            elif row["type"] == "return":
                returned[row["sku"]] += row["quantity"]
    cost = {code: s["unit_cost"] for code, s in skus.items()}
    cogs = sum(max(shipped[c] - returned[c], 0.0) * cost[c] for c in skus)
    area = 0.0
    for code in skus:
        level, since = 0.0, start
        for row in sorted((r for r in ledger if r["sku"] == code), key=lambda r: (r["at"], r["id"])):
            if row["at"] > as_of:
                break
            if row["at"] > start:
                area += cost[code] * level * (row["at"] - since).total_seconds()
                since = row["at"]
            level += row["quantity"]
        area += cost[code] * level * (as_of - since).total_seconds()
    average_value = area / (as_of - start).total_seconds()

    m = _get(sample, "/metrics", window_days=WINDOW, as_of=as_of.isoformat())
    assert m["sku_count"] == 36
    assert m["units_on_hand"] == sum(on_hand[c] for c in skus)
    assert m["stock_value_at_cost"] == pytest.approx(sum(max(on_hand[c], 0) * cost[c] for c in skus))
    assert m["stockouts"] == sum(1 for c in skus if on_hand[c] <= 0)
    assert m["units_shipped"] == sum(shipped.values()) > 0
    assert m["units_returned"] == sum(returned.values())
    assert m["cogs"] == pytest.approx(cogs)
    assert m["average_inventory_value"] == pytest.approx(average_value, rel=1e-9)
    assert m["inventory_turnover"] == pytest.approx(cogs / average_value, rel=1e-9)
    assert m["dead_stock"]["sku_count"] == sum(
        1 for c in skus if on_hand[c] > 0 and shipped[c] - returned[c] <= 0)


def test_classification_of_the_real_products(sample: dict[str, Any]) -> None:
    shift = sample["shift"]

    def day(iso: str) -> str:
        return (datetime.fromisoformat(iso) + shift).date().isoformat()

    body = _get(sample, "/classification", weeks=52, as_of=sample["as_of"].isoformat())
    assert body["total"] == 36 and body["last_week_end"].startswith(day("2011-06-26"))
    history = sample["inventory"].get("/demand-history", params={
        "freq": "W", "start": day("2010-06-01"), "end": day("2011-06-26")}).json()["items"]
    weeks = sorted({h["date"] for h in history if h["date"] > day("2010-06-27")})
    assert len(weeks) == 52 and weeks[0] == body["first_week_end"][:10]
    units: dict[str, float] = defaultdict(float)
    for h in history:
        if h["date"] in weeks:
            units[h["sku"]] += h["quantity"]
    value = {c: units[c] * s["unit_cost"] for c, s in sample["skus"].items()}
    ranked = sorted(value, key=lambda c: (-value[c], c))
    assert [row["sku"] for row in body["items"]] == ranked
    total, before, expected = sum(value.values()), 0.0, {}
    for code in ranked:
        expected[code] = "A" if before / total < 0.8 else "B" if before / total < 0.95 else "C"
        before += value[code]
    assert {row["sku"]: row["abc"] for row in body["items"]} == expected
    counts = {a: sum(row["abc"] == a for row in body["items"]) for a in "ABC"}
    assert counts["A"] >= 1 and counts["C"] >= 1  # real sales are skewed
    by_matrix = {a: sum(cell["sku_count"] for cell in row.values()) for a, row in body["matrix"].items()}
    assert by_matrix == counts
