"""Analytics against values the inventory database can hold but no sane import writes, and absurd dates.

"A report must survive any value the database can hold": a unit cost of 1e308 (SQLite keeps any
REAL in a NUMERIC column), on-hand near 2^63 (BIGINT), zero prices. Every report must answer 200 with
finite numbers (null only where the schema allows it). The extreme values are written into the real
inventory service's database directly, since its API (rightly) refuses them; everything else is the
real inventory and analytics services over HTTP.
"""

from __future__ import annotations

import json
import math
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from sync.analytics.app import create_app as create_analytics
from sync.inventory.app import create_app as create_inventory
from sync.settings import Settings
from tests.serving import free_port, running

ENDPOINTS = ("/metrics", "/kpis", "/classification", "/reorder-alerts", "/stock-value")
BIG_INT = 2**63 - 1
MAX_FLOAT = 1.7976931348623157e308


def _scenario(http: httpx.Client) -> None:
    for location in ("WH1", "WH2"):
        assert http.post("/locations", json={"code": location, "name": location,
                                             "allow_negative": True}).status_code == 201
    for code in ("P1", "BIG", "ZERO", "NEG"):
        assert http.post("/skus", json={"code": code, "name": code, "unit_cost": 1, "price": 2,
                                        "reorder_point": 6, "max_qty": 18}).status_code == 201
        for kind in ("receipt", "shipment"):
            resp = http.post("/movements", json={"type": kind, "sku": code, "location": "WH1", "quantity": 1})
            assert resp.status_code == 201, resp.text


def _extremes(db: Path) -> None:
    """What the issue's import wrote (P1: cost 3e307, price 5e307) and worse, straight into the database."""
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE skus SET unit_cost = 3e307, price = 5e307 WHERE code = 'P1'")
        conn.execute("UPDATE skus SET unit_cost = 1e308, price = 1e308, reorder_point = 2147483647, "
                     "max_qty = 2147483647 WHERE code = 'BIG'")
        conn.execute("UPDATE skus SET unit_cost = 0, price = 0 WHERE code = 'ZERO'")
        conn.execute("UPDATE skus SET unit_cost = 1e308, price = 1e308 WHERE code = 'NEG'")
        big = "(SELECT id FROM skus WHERE code = 'BIG')"
        conn.execute(f"UPDATE stock_levels SET on_hand = {BIG_INT}, incoming = {BIG_INT} WHERE sku_id = {big}")  # noqa: S608
        conn.execute(f"UPDATE movements SET quantity = -{2**62} WHERE type = 'shipment' AND sku_id = {big}")  # noqa: S608
        conn.execute(f"UPDATE movements SET quantity = {2**62} WHERE type = 'receipt' AND sku_id = {big}")  # noqa: S608
        neg = "(SELECT id FROM skus WHERE code = 'NEG')"
        conn.execute(f"UPDATE stock_levels SET on_hand = -{BIG_INT}, reserved = {BIG_INT} WHERE sku_id = {neg}")  # noqa: S608
        conn.execute(f"UPDATE stock_levels SET on_hand = {BIG_INT} WHERE sku_id = "  # noqa: S608
                     "(SELECT id FROM skus WHERE code = 'ZERO')")


@pytest.fixture(scope="module")
def analytics(tmp_path_factory: pytest.TempPathFactory) -> Iterator[httpx.Client]:
    db = Path(tmp_path_factory.mktemp("hostile")) / "inventory.db"
    settings = Settings(DATABASE_URL=f"sqlite:///{db}", DEMO_DATA=False)
    with running(create_inventory(settings), free_port()) as inventory_url:
        with httpx.Client(base_url=inventory_url, timeout=10) as inventory:
            _scenario(inventory)
    _extremes(db)
    with running(create_inventory(settings), free_port()) as inventory_url, \
            running(create_analytics(Settings(INVENTORY_URL=inventory_url), cache_ttl=0), free_port()) as base:
        with httpx.Client(base_url=base, timeout=30) as http:
            yield http


def _numbers(value: Any, where: str = "") -> Iterator[tuple[str, Any]]:
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _numbers(item, f"{where}.{key}")
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _numbers(item, f"{where}[{i}]")
    elif isinstance(value, int | float) and not isinstance(value, bool):
        yield where, value


def _strict_json(resp: httpx.Response) -> Any:
    def refuse(token: str) -> None:
        raise AssertionError(f"non-finite {token} in {resp.request.url}")

    return json.loads(resp.text, parse_constant=refuse)


@pytest.mark.parametrize("path", ENDPOINTS)
@pytest.mark.slow
def test_every_report_survives_extreme_values_with_finite_numbers(analytics: httpx.Client, path: str) -> None:
    resp = analytics.get(path, params={"limit": 100} if path != "/stock-value" else None)
    assert resp.status_code == 200, resp.text
    body = _strict_json(resp)
    for where, number in _numbers(body):
        assert math.isfinite(number), (path, where, number)


@pytest.mark.slow
def test_the_issue_reproducer_sku_gets_a_finite_order_value(analytics: httpx.Client) -> None:
    body = analytics.get("/reorder-alerts").json()
    alerts = {item["sku"]: item for item in body["items"]}
    p1 = alerts["P1"]  # 18 units at 3e307 is past the largest double: reported as that largest double
    assert p1["suggested_order_qty"] == 18 and p1["order_value"] == MAX_FLOAT
    assert body["total_order_value"] == MAX_FLOAT


@pytest.mark.slow
def test_values_beyond_the_float_range_saturate_instead_of_vanishing(analytics: httpx.Client) -> None:
    kpis = {item["sku"]: item for item in analytics.get("/kpis", params={"limit": 100}).json()["items"]}
    assert kpis["BIG"]["stock_value"] == MAX_FLOAT and kpis["BIG"]["cogs"] == MAX_FLOAT
    assert kpis["BIG"]["on_hand"] == pytest.approx(float(BIG_INT))
    assert kpis["ZERO"]["stock_value"] == 0.0 and kpis["NEG"]["stock_value"] == 0.0
    metrics = analytics.get("/metrics").json()
    assert metrics["stock_value_at_cost"] == MAX_FLOAT
    assert metrics["inventory_turnover"] is None or math.isfinite(metrics["inventory_turnover"])
    value = analytics.get("/stock-value").json()
    assert value["total_stock_value_at_cost"] == MAX_FLOAT
    classes = {item["sku"]: item for item in analytics.get("/classification").json()["items"]}
    assert all(0.0 <= item["share"] <= 1.0 for item in classes.values())


@pytest.mark.parametrize("path", ("/metrics", "/kpis", "/classification"))
@pytest.mark.parametrize("as_of", ("1000-01-01T00:00:00Z", "2300-01-01T00:00:00Z", "0001-01-01T00:00:00Z",
                                   "9999-12-31T23:59:59Z"))
@pytest.mark.slow
def test_dates_outside_the_supported_range_are_a_422_naming_as_of(analytics: httpx.Client, path: str,
                                                                   as_of: str) -> None:
    resp = analytics.get(path, params={"as_of": as_of})
    assert resp.status_code == 422, resp.text
    error = resp.json()["error"]
    assert error["code"] == "validation_error" and "as_of" in error["message"]
    assert [detail["field"] for detail in error["details"]] == ["query.as_of"]


@pytest.mark.parametrize("path", ("/metrics", "/kpis", "/classification"))
@pytest.mark.slow
def test_the_edges_of_the_supported_range_still_answer(analytics: httpx.Client, path: str) -> None:
    for as_of in ("1900-01-01T00:00:00Z", "2200-12-31T23:59:59Z"):
        params: dict[str, Any] = {"as_of": as_of, "window_days": 3650} if path != "/classification" else \
            {"as_of": as_of, "weeks": 520}
        resp = analytics.get(path, params=params)
        assert resp.status_code == 200, (as_of, resp.text)


@pytest.mark.parametrize("path", ENDPOINTS)
@pytest.mark.slow
def test_openapi_documents_the_error_responses(analytics: httpx.Client, path: str) -> None:
    responses = analytics.get("/openapi.json").json()["paths"][path]["get"]["responses"]
    for status in ("422", "502", "503"):
        schema = responses[status]["content"]["application/json"]["schema"]
        assert schema["$ref"].endswith("/ErrorResponse"), (path, status)


def test_saturating_helpers_never_give_inf_or_nan() -> None:
    import numpy as np
    import pandas as pd

    from sync.analytics.finite import MAX, finite_or_nan, product, ratio, shares, total

    assert total([MAX, MAX, 1.0]) == MAX and total([-MAX, -MAX]) == -MAX
    assert total([MAX, -MAX]) == 0.0 and total([np.nan, 2.0]) == 2.0 and total([]) == 0.0
    assert product(pd.Series([1e308, 0.0]), pd.Series([10.0, 1e308])).tolist() == [MAX, 0.0]
    assert ratio(1e308, 1e-10) == MAX
    got = shares(pd.Series([MAX, MAX, 0.0]))
    assert got.tolist() == [0.5, 0.5, 0.0]
    assert np.isnan(finite_or_nan(pd.Series([np.inf, 1.0]))).tolist() == [True, False]
