"""``forecast_demand`` on the weekly history of the bundled real sample."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from sync.errors import ValidationFailed
from sync.ml.forecasting import forecast_demand
from sync.ml.forecasting.panel import to_panel

HORIZON = 4


@pytest.fixture(scope="module")
def forecast(sample_history: pd.DataFrame) -> pd.DataFrame:
    return forecast_demand(sample_history, HORIZON, quantiles=(0.5, 0.9))


@pytest.mark.slow
def test_one_row_per_sku_and_future_week_with_the_documented_columns(
    sample_history: pd.DataFrame, forecast: pd.DataFrame
) -> None:
    assert list(forecast.columns) == ["sku", "date", "forecast", "q50", "q90"]
    skus = set(sample_history["sku"].astype(str))
    assert set(forecast["sku"]) == skus
    assert len(forecast) == len(skus) * HORIZON
    last = pd.Timestamp(sample_history["date"].max())
    expected = [last + pd.Timedelta(weeks=k) for k in range(1, HORIZON + 1)]
    for _, rows in forecast.groupby("sku"):
        assert list(pd.to_datetime(rows["date"])) == expected
    assert all(d.day_name() == "Sunday" for d in expected)


@pytest.mark.slow
def test_forecasts_are_finite_non_negative_and_ordered_by_quantile(forecast: pd.DataFrame) -> None:
    values = forecast[["forecast", "q50", "q90"]].to_numpy()
    assert np.isfinite(values).all()
    assert (values >= 0).all()
    assert (forecast["q90"] >= forecast["forecast"]).all()
    assert (forecast["q90"] >= forecast["q50"]).all()
    assert (forecast["q90"] > forecast["forecast"]).any()


@pytest.mark.slow
def test_forecast_follows_each_skus_level(sample_history: pd.DataFrame, forecast: pd.DataFrame) -> None:
    """A SKU that sells more recently gets a larger forecast: ranks agree across SKUs."""
    recent = sample_history[sample_history["date"] > sample_history["date"].max() - pd.Timedelta(weeks=26)]
    level = recent.groupby("sku")["quantity"].mean()
    mean_forecast = forecast.groupby("sku")["forecast"].mean().reindex(level.index)
    assert level.corr(mean_forecast, method="spearman") > 0.6


@pytest.mark.slow
def test_same_input_gives_identical_results(sample_history: pd.DataFrame, forecast: pd.DataFrame) -> None:
    again = forecast_demand(sample_history, HORIZON, quantiles=(0.5, 0.9))
    pd.testing.assert_frame_equal(forecast, again)


@pytest.mark.slow
def test_price_and_promotion_columns_are_used_when_given(sample_history: pd.DataFrame) -> None:
    history = sample_history.copy()
    history["promotion"] = (history["date"].dt.isocalendar().week % 5 == 0).astype(int)
    result = forecast_demand(history, 2, progress=True)
    assert list(result.columns) == ["sku", "date", "forecast", "q90"]
    assert (result["forecast"] >= 0).all()


@pytest.mark.parametrize("weeks", [1, 6, 18])
@pytest.mark.slow
def test_short_histories_still_forecast_every_sku(sample_history: pd.DataFrame, weeks: int) -> None:
    """Too short for the global model or for inner origins: the statistical fallbacks answer instead."""
    short = sample_history[sample_history["date"] < sample_history["date"].min() + pd.Timedelta(weeks=weeks)]
    result = forecast_demand(short, 3)
    assert len(result) == short["sku"].nunique() * 3
    assert np.isfinite(result[["forecast", "q90"]].to_numpy()).all()
    assert (result["forecast"] >= 0).all()
    assert (result["q90"] >= result["forecast"]).all()


@pytest.mark.slow
def test_daily_dates_are_summed_into_their_week(sample_history: pd.DataFrame) -> None:
    """Dates inside a week land in the week ending that Sunday, summed, exactly like weekly input."""
    daily = sample_history.copy()
    daily["date"] = daily["date"] - pd.Timedelta(days=3)
    split = daily.assign(quantity=daily["quantity"] / 2)
    split_later = split.assign(date=split["date"] + pd.Timedelta(days=1))
    weekly = to_panel(sample_history)
    from_days = to_panel(pd.concat([split, split_later], ignore_index=True))
    assert list(from_days.dates) == list(weekly.dates)
    np.testing.assert_allclose(from_days.y, weekly.y)


@pytest.mark.parametrize(
    ("change", "needle"),
    [
        (lambda h: h.drop(columns=["quantity"]), "quantity"),
        (lambda h: h.drop(columns=["sku"]), "sku"),
        (lambda h: h.assign(quantity=h["quantity"].astype(object).where(h.index != 3, "lots")), "quantity"),
        (lambda h: h.iloc[0:0], "empty"),
        (lambda h: h.assign(date=h["date"].astype(str).where(h.index != 5, "not a date")), "date"),
        (lambda h: h.assign(price="cheap"), "price"),
    ],
)
@pytest.mark.slow
def test_bad_history_is_rejected_with_a_message_naming_the_problem(
    sample_history: pd.DataFrame, change, needle: str
) -> None:
    with pytest.raises(ValidationFailed, match=needle):
        forecast_demand(change(sample_history.copy()), 2)


@pytest.mark.parametrize("horizon", [0, -1, 2.5, "3"])
@pytest.mark.slow
def test_horizon_must_be_a_positive_integer(sample_history: pd.DataFrame, horizon: object) -> None:
    with pytest.raises(ValidationFailed, match="horizon"):
        forecast_demand(sample_history, horizon)  # type: ignore[arg-type]


@pytest.mark.parametrize("quantiles", [(0.0,), (1.2,), ("high",)])
@pytest.mark.slow
def test_quantiles_must_lie_strictly_between_zero_and_one(
    sample_history: pd.DataFrame, quantiles: tuple[object, ...]
) -> None:
    with pytest.raises(ValidationFailed, match="quantiles"):
        forecast_demand(sample_history, 2, quantiles=quantiles)  # type: ignore[arg-type]


@pytest.mark.slow
def test_weeks_with_more_returns_than_sales_count_as_zero_demand(sample_history: pd.DataFrame) -> None:
    """Inventory's demand history is net of returns, so a week can be negative; it must not break the model."""
    history = sample_history.copy()
    sku = history["sku"].iloc[0]
    rows = history.index[history["sku"] == sku][-5:]
    history.loc[rows, "quantity"] = -40.0
    out = forecast_demand(history, horizon=4)
    assert (out["forecast"] >= 0).all() and (out["q90"] >= out["forecast"]).all()
    assert (to_panel(history).y >= 0).all()
