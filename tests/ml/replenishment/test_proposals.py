"""``propose_orders``: plan rows + positions + suppliers -> order lines with their reasons (pure)."""

from __future__ import annotations

import pandas as pd
import pytest

from sync.ml.replenishment import propose_orders
from sync.ml.replenishment.proposals import fill_without_order

PLAN = pd.DataFrame({
    "sku": ["A", "B", "C", "D"],
    "reorder_point": [20.0, 50.0, 10.0, 5.0],
    "order_up_to": [60.0, 120.0, 30.0, 12.0],
    "risk_period_demand": [15.0, 40.0, 6.0, 3.0],
    "risk_period_sd": [5.0, 20.0, 4.0, 0.0],
})


def test_only_skus_at_or_below_the_reorder_point_get_order_up_to_minus_position() -> None:
    lines = propose_orders(PLAN, {"A": 20, "B": 51, "C": 3.5, "D": -2}, {"A": "Acme", "C": "Bolt"})
    assert lines["sku"].tolist() == ["D", "A", "C"]  # by supplier (none first), then SKU
    got = lines.set_index("sku")
    assert got.loc["A", "quantity"] == 40 and got.loc["A", "supplier"] == "Acme"  # at the reorder point
    assert got.loc["C", "quantity"] == 27  # 30 - 3.5, rounded up to whole units
    assert got.loc["D", "quantity"] == 14 and got.loc["D", "supplier"] is None  # a negative position
    assert "B" not in got.index  # 51 > 50
    for sku in ("A", "C", "D"):
        row = got.loc[sku]
        assert row["position"] <= row["reorder_point"]
        assert 0.0 <= row["fill_rate_without_order"] <= 1.0
        assert f"{row['reorder_point']:g}" in row["reason"] and "fill rate without this order" in row["reason"]
    assert got.loc["D", "fill_rate_without_order"] == 0.0  # nothing on hand or on order


def test_a_sku_without_a_position_has_nothing_and_is_proposed() -> None:
    lines = propose_orders(PLAN, {"A": 100, "B": 100, "C": 100})
    assert lines["sku"].tolist() == ["D"] and lines["quantity"].tolist() == [12]


def test_fill_without_order_falls_as_the_position_falls() -> None:
    values = [fill_without_order(p, 40.0, 20.0) for p in (80, 40, 20, 0)]
    assert values == sorted(values, reverse=True) and values[0] > 0.95 and values[-1] == 0.0
    assert fill_without_order(5, 10.0, 0.0) == 0.5 and fill_without_order(5, 0.0, 0.0) == 1.0


@pytest.mark.parametrize(("positions", "suppliers", "field"), [
    ({"Z": 1}, None, "positions"),
    ({"A": 1}, {"Z": "x"}, "suppliers"),
    ({"A": "many"}, None, "positions"),
])
def test_unknown_skus_and_bad_positions_are_refused(positions: dict, suppliers: dict | None, field: str) -> None:
    with pytest.raises(ValueError, match=field):
        propose_orders(PLAN, positions, suppliers)


def test_a_plan_without_the_needed_columns_is_refused() -> None:
    with pytest.raises(ValueError, match="risk_period_sd"):
        propose_orders(PLAN.drop(columns="risk_period_sd"), {})
