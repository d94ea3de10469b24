"""Per-SKU KPIs and the /metrics summary on a hand-computed five-SKU example (window: 1-11 Jan)."""

from __future__ import annotations

import pandas as pd
import pytest

from sync.analytics.kpis import sku_kpis, summarize
from tests.analytics.helpers import frames, level, move, sku, ts


@pytest.fixture
def kpis() -> pd.DataFrame:
    skus, levels, moves = frames(
        [
            sku("A", 2.0, price=5.0, reorder_point=6, max_qty=20),
            sku("B", 10.0, reorder_point=5),
            sku("C", 1.0),
            sku("D", 3.0, reorder_point=0),
            sku("E", 1.0, price=None),
        ],
        [
            level("A", "L1", 5, reserved=1), level("A", "L2", 2, incoming=3),
            level("B", "L1", 0),
            level("C", "L1", 50),
            level("E", "L1", 100),
        ],
        [
            move("A", "receipt", 10, ts(3)), move("A", "shipment", -8, ts(6)),
            move("A", "return", 1, ts(8)), move("A", "shipment", -1, ts(9), location="L2"),
            move("B", "receipt", 4, ts(2)), move("B", "shipment", -4, ts(4)),
            move("C", "shipment", -5, pd.Timestamp("2025-12-20", tz="UTC")),
            move("E", "shipment", -1, ts(5)),
        ],
    )
    return sku_kpis(skus, levels, moves, as_of=ts(11), window_days=10).set_index("sku")


def test_stock_and_position(kpis: pd.DataFrame) -> None:
    a = kpis.loc["A"]
    assert (a.on_hand, a.reserved, a.available, a.incoming, a.position) == (7, 1, 6, 3, 9)
    assert a.stock_value == pytest.approx(14.0)
    # 5 for 2 days, 15 for 3, 7 for 2, 8 for 1, 7 for 2 -> 91 / 10
    assert a.avg_on_hand == pytest.approx(9.1)
    assert kpis.loc["E", "avg_on_hand"] == pytest.approx(100.4)


def test_demand_turnover_and_days_of_supply(kpis: pd.DataFrame) -> None:
    a = kpis.loc["A"]
    assert (a.units_shipped, a.units_returned, a.demand, a.cogs) == (9, 1, 8, 16)
    assert a.turnover == pytest.approx(8 / 9.1)
    assert a.annual_turnover == pytest.approx(8 / 9.1 * 36.5)
    assert a.days_of_supply == pytest.approx(7 / 0.8)
    b = kpis.loc["B"]
    assert b.turnover == pytest.approx(5.0)  # 4 shipped over an average of 0.8 on hand
    assert b.days_of_supply == 0
    assert b.in_stock_share == pytest.approx(0.2)
    assert pd.isna(kpis.loc["C", "days_of_supply"])  # no demand: undefined, not infinite
    assert kpis.loc["C", "units_shipped"] == 0  # the December shipment is outside the window
    assert pd.isna(kpis.loc["D", "turnover"])  # never held stock


def test_flags_and_movement_classes(kpis: pd.DataFrame) -> None:
    assert kpis["stockout"].to_dict() == {"A": False, "B": True, "C": False, "D": True, "E": False}
    # A's position 9 is above its reorder point 6; C has no reorder point; D reorders at zero
    assert kpis["below_reorder_point"].to_dict() == {"A": False, "B": True, "C": False, "D": True, "E": False}
    assert kpis["movement_class"].to_dict() == {
        "A": "active", "B": "out_of_stock", "C": "dead", "D": "out_of_stock", "E": "slow"}
    assert kpis.loc["A", "last_shipment_at"] == ts(9)
    assert pd.isna(kpis.loc["C", "last_shipment_at"])


def test_summary(kpis: pd.DataFrame) -> None:
    s = summarize(kpis.reset_index(), window_days=10)
    assert s["sku_count"] == 5
    assert s["units_on_hand"] == 157
    assert s["stock_value_at_cost"] == pytest.approx(164.0)
    assert s["stock_value_at_price"] == pytest.approx(7 * 5.0 + 50 * 2.0)  # E has no price
    assert s["cogs"] == pytest.approx(57.0)
    assert s["average_inventory_value"] == pytest.approx(176.6)
    assert s["inventory_turnover"] == pytest.approx(57 / 176.6)
    assert s["annual_inventory_turnover"] == pytest.approx(57 / 176.6 * 36.5)
    assert s["days_of_supply"] == pytest.approx(164 / 5.7)
    assert (s["stockouts"], s["below_reorder_point"]) == (2, 2)
    assert (s["units_shipped"], s["units_returned"]) == (14, 1)
    assert s["return_rate"] == pytest.approx(1 / 14)
    assert s["in_stock_rate"] == pytest.approx((1 + 0.2 + 1 + 0 + 1) / 5)
    assert s["dead_stock"] == {"sku_count": 1, "value": 50.0}
    assert s["slow_stock"] == {"sku_count": 1, "value": 100.0}


def test_as_of_in_the_past_rolls_levels_back() -> None:
    skus, levels, moves = frames([sku("A", 1.0)], [level("A", "L1", 3, reserved=1)],
                                 [move("A", "receipt", 10, ts(2)), move("A", "shipment", -7, ts(8))])
    k = sku_kpis(skus, levels, moves, as_of=ts(5), window_days=4).set_index("sku").loc["A"]
    assert k.on_hand == 10  # before the shipment of the 8th
    assert (k.reserved, k.available) == (1, 9)  # today's reservation against that day's stock
    assert k.demand == 0
    assert k.avg_on_hand == pytest.approx(7.5)  # 0 for 1 day, 10 for 3 days


def test_empty_inventory_summary_has_no_made_up_ratios() -> None:
    skus, levels, moves = frames([], [], [])
    s = summarize(sku_kpis(skus, levels, moves, as_of=ts(11), window_days=30), window_days=30)
    assert s["sku_count"] == 0
    assert s["inventory_turnover"] is None and s["days_of_supply"] is None and s["in_stock_rate"] is None
