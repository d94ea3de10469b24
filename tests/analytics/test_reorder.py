"""Reorder alerts: who alerts, how much to order, in what order."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from sync.analytics.reorder import reorder_alerts


def _kpis(rows: list[dict[str, object]]) -> pd.DataFrame:
    base = {"name": "n", "supplier": "s", "on_hand": 0.0, "reserved": 0.0, "incoming": 0.0, "max_qty": np.nan,
            "daily_demand": 0.0, "lead_time_days": 7.0, "unit_cost": 1.0}
    df = pd.DataFrame([{**base, **row} for row in rows])
    df["available"] = df["on_hand"] - df["reserved"]
    df["position"] = df["available"] + df["incoming"]
    df["days_of_supply"] = (df["on_hand"] / df["daily_demand"].where(df["daily_demand"] > 0))
    df["below_reorder_point"] = df["reorder_point"].notna() & (df["position"] <= df["reorder_point"])
    return df


def test_quantities_urgency_and_order() -> None:
    kpis = _kpis([
        {"sku": "MINMAX", "on_hand": 5.0, "incoming": 3.0, "reorder_point": 10.0, "max_qty": 40.0, "daily_demand": 1.0},
        {"sku": "OUT", "on_hand": 0.0, "reorder_point": 5.0, "daily_demand": 0.4, "unit_cost": 10.0},
        {"sku": "ZERO", "on_hand": 0.0, "reorder_point": 0.0, "unit_cost": 3.0},
        {"sku": "FINE", "on_hand": 50.0, "reorder_point": 10.0},
        {"sku": "NOROP", "on_hand": 0.0, "reorder_point": np.nan},
        {"sku": "RESERVED", "on_hand": 12.0, "reserved": 12.0, "reorder_point": 2.0, "daily_demand": 2.0},
    ])
    alerts = reorder_alerts(kpis, cover_days=30).set_index("sku")
    # out of stock (nothing available) first, by days of supply: OUT 0, RESERVED 12/2 = 6, ZERO undefined
    assert alerts.index.tolist() == ["OUT", "RESERVED", "ZERO", "MINMAX"]
    assert alerts["urgency"].to_dict() == {
        "OUT": "out_of_stock", "RESERVED": "out_of_stock", "ZERO": "out_of_stock", "MINMAX": "below_reorder_point"}
    # OUT: reorder point 5 + ceil(0.4 * 30) = 17
    assert (alerts.loc["OUT", "order_up_to"], alerts.loc["OUT", "suggested_order_qty"]) == (17, 17)
    assert alerts.loc["OUT", "order_value"] == pytest.approx(170.0)
    # ZERO reorders at 0 with no demand: one unit lifts it above the reorder point
    assert alerts.loc["ZERO", "suggested_order_qty"] == 1
    # MINMAX: up to max 40 from position 8 (incoming counts)
    assert alerts.loc["MINMAX", "suggested_order_qty"] == 32
    # RESERVED: position 0 -> 2 + 60
    assert alerts.loc["RESERVED", "suggested_order_qty"] == 62


def test_no_alerts_and_bad_cover() -> None:
    kpis = _kpis([{"sku": "FINE", "on_hand": 50.0, "reorder_point": 10.0}])
    assert reorder_alerts(kpis).empty
    with pytest.raises(ValueError):
        reorder_alerts(kpis, cover_days=-1)
