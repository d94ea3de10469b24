"""The SPEC's benchmark metrics against small examples computed by hand."""

from __future__ import annotations

import numpy as np
import pytest

from sync.ml.forecasting import metrics

# SKU 0: history 1,3,2,4 -> first differences 2,-1,2: mean |d| = 5/3, mean d^2 = 3.
# SKU 1: history 0,2,2,0 -> differences 2,0,-2: mean |d| = 4/3, mean d^2 = 8/3.
TRAIN = np.array([[1.0, 3.0, 2.0, 4.0], [0.0, 2.0, 2.0, 0.0]])
ACTUAL = np.array([[2.0, 0.0], [1.0, 3.0]])
# SKU 0 forecasts 3 and -1 (counts as 0): errors 1, 0. SKU 1 forecasts 1, 1: errors 0, -2.
FORECAST = np.array([[3.0, -1.0], [1.0, 1.0]])


def test_rmsse_is_root_mean_squared_error_over_squared_differences_averaged_over_skus() -> None:
    sku0 = np.sqrt((1.0 + 0.0) / 2 / 3.0)
    sku1 = np.sqrt((0.0 + 4.0) / 2 / (8.0 / 3.0))
    assert metrics.rmsse(ACTUAL, FORECAST, TRAIN) == pytest.approx((sku0 + sku1) / 2)


def test_mase_scales_mean_absolute_error_by_mean_absolute_difference() -> None:
    sku0 = 0.5 / (5.0 / 3.0)
    sku1 = 1.0 / (4.0 / 3.0)
    assert metrics.mase(ACTUAL, FORECAST, TRAIN) == pytest.approx((sku0 + sku1) / 2)


def test_wape_and_bias_pool_every_point_and_clip_negative_forecasts() -> None:
    # errors 1, 0, 0, -2 over actuals summing to 6
    assert metrics.wape(ACTUAL, FORECAST) == pytest.approx(3.0 / 6.0)
    assert metrics.bias(ACTUAL, FORECAST) == pytest.approx(-1.0 / 6.0)


def test_coverage_counts_actuals_at_or_below_the_quantile() -> None:
    upper = np.array([[1.0, 0.0], [1.0, 5.0]])  # 2<=1 no, 0<=0 yes, 1<=1 yes, 3<=5 yes
    assert metrics.coverage(ACTUAL, upper) == pytest.approx(0.75)


def test_scaled_pinball_weights_misses_above_by_q_and_below_by_one_minus_q() -> None:
    upper = np.array([[1.0, 0.0], [2.0, 3.0]])
    # SKU 0: y-q = 1 -> 0.9, 0 -> 0; mean 0.45 / (5/3).  SKU 1: y-q = -1 -> 0.1, 0 -> 0; mean 0.05 / (4/3).
    expected = (0.45 / (5.0 / 3.0) + 0.05 / (4.0 / 3.0)) / 2
    assert metrics.scaled_pinball(ACTUAL, upper, TRAIN, 0.9) == pytest.approx(expected)


def test_constant_history_is_left_out_instead_of_dividing_by_zero() -> None:
    train = np.array([[5.0, 5.0, 5.0], [0.0, 2.0, 0.0]])
    actual = np.array([[5.0], [2.0]])
    forecast = np.array([[9.0], [1.0]])
    assert metrics.mase(actual, forecast, train) == pytest.approx(1.0 / 2.0)


def test_score_bundles_every_figure() -> None:
    upper = FORECAST + 1.0
    scores = metrics.score(ACTUAL, FORECAST, upper, TRAIN)
    assert scores.rmsse == pytest.approx(metrics.rmsse(ACTUAL, FORECAST, TRAIN))
    assert scores.coverage == pytest.approx(metrics.coverage(ACTUAL, upper))
    assert set(scores.as_dict()) == {"rmsse", "mase", "wape", "bias", "coverage", "pinball"}
