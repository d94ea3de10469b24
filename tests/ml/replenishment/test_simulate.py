"""The policy's meaning, executed by ``simulate``, on real weekly demand checked by hand."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from sync.ml.replenishment import simulate

# SKU 21116 of the bundled sample, its first 8 full weeks: 12, 25, 12, 0, 12, 6, 8, 14 units.
SKU = "21116"


@pytest.fixture(scope="module")
def weeks(sample_history: pd.DataFrame) -> np.ndarray:
    demand = sample_history.loc[sample_history["sku"] == SKU, "quantity"].to_numpy()[:8]
    assert demand.tolist() == [12, 25, 12, 0, 12, 6, 8, 14]
    return demand[None, :].astype(float)


def test_orders_arrivals_and_lost_sales_follow_the_policy(weeks: np.ndarray) -> None:
    # s = 20, S = 40, lead time 2, weekly review, 40 on hand at the start, nothing on order.
    trace = simulate(weeks, np.array([20.0]), np.array([40.0]), lead_time=2, review_period=1)
    # week 0: 40 - 12 = 28 > 20, no order. Week 1: 28 - 25 = 3 <= 20: order 40 - 3 = 37, arriving
    # before week 1 + 2 + 1 = 4. Week 2: 3 on hand, 12 demanded: 9 lost (not backordered); position
    # 0 + 37 on order = 37 > 20, so no second order. Week 4: the 37 arrive (37, not 37 - 9).
    # Week 5: 25 - 6 = 19 <= 20: order 21 (after the stretch). Week 7: 11 on hand, 14 demanded: 3 lost;
    # position 0 + 21 > 20: no order.
    assert trace.ordered[0].tolist() == [0, 37, 0, 0, 0, 21, 0, 0]
    assert trace.start[0].tolist() == [40, 28, 3, 0, 37, 25, 19, 11]
    assert trace.end[0].tolist() == [28, 3, 0, 0, 25, 19, 11, 0]
    assert trace.served[0].tolist() == [12, 25, 3, 0, 12, 6, 8, 11]
    assert trace.lost[0].tolist() == [0, 0, 9, 0, 0, 0, 0, 3]
    assert trace.fill_rate() == pytest.approx(77 / 89)
    assert trace.orders.tolist() == [2] and trace.stockout_periods.tolist() == [2]


def test_a_position_equal_to_the_reorder_point_orders(weeks: np.ndarray) -> None:
    # s = 19: week 5 ends at position 19, exactly the reorder point, and orders S - 19 = 21.
    trace = simulate(weeks, np.array([19.0]), np.array([40.0]), lead_time=2)
    assert trace.ordered[0, 5] == 21


def test_lead_time_zero_arrives_for_the_next_week_and_review_period_spaces_reviews(weeks: np.ndarray) -> None:
    trace = simulate(weeks, np.array([20.0]), np.array([40.0]), lead_time=0)
    assert trace.ordered[0, 1] == 37 and trace.start[0, 2] == 3 + 37
    every_other = simulate(weeks, np.array([20.0]), np.array([40.0]), lead_time=2, review_period=2)
    assert set(np.flatnonzero(every_other.ordered[0])) <= {1, 3, 5, 7}


def test_plans_can_change_per_period_and_bad_shapes_are_refused(weeks: np.ndarray) -> None:
    s = np.full((1, 8), 20.0)
    s[0, 4:] = 0.0  # a new plan from week 4 on: reorder point 0 (week 5 at 19 no longer orders;
    # week 7 ends with nothing on hand or on order, position 0 <= 0, and orders 40)
    trace = simulate(weeks, s, np.full((1, 8), 40.0), lead_time=2)
    assert trace.ordered[0].tolist() == [0, 37, 0, 0, 0, 0, 0, 40]
    with pytest.raises(ValueError, match="lead_time"):
        simulate(weeks, np.array([20.0]), np.array([40.0]), lead_time=-1)
    with pytest.raises(ValueError, match="reorder_point"):
        simulate(weeks, np.ones((1, 3)), np.array([40.0]), lead_time=1)
