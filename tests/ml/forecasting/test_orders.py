"""The optional ``orders`` column: derived from the transactions, validated, and used by the forecaster."""

from __future__ import annotations

from importlib import resources

import numpy as np
import pandas as pd
import pytest

from sync.errors import ValidationFailed
from sync.ml.forecasting import forecast_demand
from sync.ml.forecasting.features import origin_features, sku_scale
from sync.ml.forecasting.gbm import GlobalModel, sku_weights
from sync.ml.forecasting.panel import to_panel
from sync.ml.forecasting.weekly import read_transactions, sales_lines


@pytest.fixture(scope="module")
def sales() -> pd.DataFrame:
    path = resources.files("sync") / "data" / "online_retail_sample.csv"
    with resources.as_file(path) as csv:
        return sales_lines(read_transactions(csv))


def test_weekly_orders_count_the_distinct_invoices_behind_each_week(
    sample_history: pd.DataFrame, sales: pd.DataFrame
) -> None:
    assert list(sample_history.columns) == ["sku", "date", "quantity", "price", "orders"]
    assert ((sample_history["orders"] > 0) == (sample_history["quantity"] > 0)).all()
    week = sales["InvoiceDate"].dt.to_period("W-SUN").dt.end_time.dt.normalize()
    expected = sales.assign(date=week).groupby(["StockCode", "date"])["Invoice"].nunique()
    got = sample_history[sample_history["orders"] > 0].set_index(["sku", "date"])["orders"]
    np.testing.assert_array_equal(got.to_numpy(), expected.reindex(got.index).to_numpy())


def test_panel_sums_orders_within_a_period_and_fills_missing_periods_with_zero(sample_history: pd.DataFrame) -> None:
    weekly = to_panel(sample_history)
    assert weekly.orders is not None
    daily = sample_history[sample_history["quantity"] > 0].copy()
    half = daily.assign(orders=daily["orders"] / 2, quantity=daily["quantity"] / 2)
    split = pd.concat([half, half.assign(date=half["date"] - pd.Timedelta(days=2))], ignore_index=True)
    from_days = to_panel(split)
    np.testing.assert_allclose(from_days.orders, weekly.orders)
    assert weekly.head(10).orders.shape == (len(weekly.skus), 10)
    assert to_panel(sample_history.drop(columns=["orders"])).orders is None


@pytest.mark.parametrize(
    "change",
    [
        lambda h: h.assign(orders=h["orders"].astype(object).where(h.index != 4, "many")),
        lambda h: h.assign(orders=h["orders"].where(h.index != 4, -1.0)),
        lambda h: h.assign(orders=h["orders"].where(h.index != 4, np.nan)),
    ],
)
def test_bad_orders_column_is_rejected_by_name(sample_history: pd.DataFrame, change) -> None:
    with pytest.raises(ValidationFailed, match="orders"):
        forecast_demand(change(sample_history.copy()), 2)


@pytest.mark.slow
def test_forecast_works_without_orders_and_uses_them_when_given(sample_history: pd.DataFrame) -> None:
    with_orders = forecast_demand(sample_history, 3)
    without = forecast_demand(sample_history.drop(columns=["orders"]), 3)
    assert list(without.columns) == list(with_orders.columns)
    assert np.isfinite(without["forecast"]).all() and (without["forecast"] >= 0).all()
    assert not np.allclose(with_orders["forecast"], without["forecast"])


@pytest.mark.slow
def test_one_bulk_order_lifts_the_forecast_less_when_orders_show_it_was_one_order(
    sample_history: pd.DataFrame,
) -> None:
    """A week lifted 20-fold by one extra order: the order count barely moves, so the level should not."""
    sku = sample_history.groupby("sku")["orders"].sum().idxmax()
    last = sample_history["date"].max()
    row = (sample_history["sku"] == sku) & (sample_history["date"] == last)
    mean = sample_history.loc[sample_history["sku"] == sku, "quantity"].mean()
    bulk = sample_history.copy()
    bulk.loc[row, "quantity"] += 20 * mean
    bulk.loc[row, "orders"] += 1

    def level(history: pd.DataFrame) -> float:
        out = forecast_demand(history, 4)
        return float(out.loc[out["sku"] == sku, "forecast"].mean())

    lift_with_orders = level(bulk) - level(sample_history)
    plain = sample_history.drop(columns=["orders"])
    lift_without = level(bulk.drop(columns=["orders"])) - level(plain)
    assert 0 <= lift_with_orders < 0.5 * lift_without


def test_order_features_and_weights_of_the_global_model(sample_history: pd.DataFrame) -> None:
    panel = to_panel(sample_history)
    scale = sku_scale(panel.y)
    names = origin_features(panel, scale).names
    assert {"ordmean4", "ordlvl0.3", "size_ratio"} <= set(names)
    assert "ordmean4" not in origin_features(to_panel(sample_history.drop(columns=["orders"])), scale).names
    weights = sku_weights(panel.y / scale[:, None])
    assert weights.shape == (len(panel.skus),) and np.isclose(weights.mean(), 1.0) and (weights > 0).all()
    model = GlobalModel(horizon=2, num_rounds=20).fit(panel)
    assert model.calibration_ is not None and np.isfinite(model.calibration_).all()
    assert (model.calibration_ > 0).all()
    assert np.isfinite(model.predict(panel)).all()
