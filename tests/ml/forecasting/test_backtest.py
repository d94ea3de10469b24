"""``backtest`` on the bundled real sample: every model scored on rolling origins, ours not worse than Naive."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from sync.errors import ValidationFailed
from sync.ml.forecasting import backtest
from sync.ml.forecasting.baselines import BASELINE_NAMES

HORIZON = 4
WINDOWS = 2


@pytest.fixture(scope="module")
def result(sample_history: pd.DataFrame):
    return backtest(sample_history, HORIZON, WINDOWS)


@pytest.mark.slow
def test_reports_every_metric_for_ours_each_candidate_and_each_baseline(result) -> None:
    metrics = result.metrics
    assert list(metrics.columns) == ["rmsse", "mase", "wape", "bias", "q90_coverage", "q90_pinball"]
    expected = {"ensemble", "LightGBM", "ETS", "TSB", "IMAPA", "ADIDA", "WindowAverage"}
    expected |= {f"baseline:{name}" for name in BASELINE_NAMES}
    assert expected <= set(metrics.index)
    assert np.isfinite(metrics.to_numpy()).all()
    assert ((metrics["q90_coverage"] >= 0) & (metrics["q90_coverage"] <= 1)).all()
    assert len(result.origins) == WINDOWS
    assert result.origins[1] - result.origins[0] == pd.Timedelta(weeks=HORIZON)


@pytest.mark.slow
def test_last_origin_window_ends_at_the_last_week_of_history(sample_history: pd.DataFrame, result) -> None:
    assert result.origins[-1] + pd.Timedelta(weeks=HORIZON - 1) == sample_history["date"].max()


@pytest.mark.slow
def test_our_forecast_is_within_five_percent_of_naive_and_less_biased_on_the_small_sample(result) -> None:
    """A sanity check, not the accuracy test (that is bench/forecast.py on 815 SKUs): the sample has 35
    SKUs and 8 points each, where harmless changes move the ensemble's RMSSE by about +-0.01 (0.908 to
    0.926 across the variants measured for docs/forecasting.md). Its windows run into the November
    peak, where the catalogue's seasonal index (chosen on the dev products' tuning half) lifts the
    forecast: RMSSE 0.943 against Naive's 0.916, bias -15% against Naive's -34% (without the index:
    0.926 and -26%). So ours must stay within 5% of Naive's RMSSE and be less biased."""
    metrics = result.metrics
    assert metrics.loc["ensemble", "rmsse"] <= 1.05 * metrics.loc["baseline:Naive", "rmsse"]
    assert abs(metrics.loc["ensemble", "bias"]) < abs(metrics.loc["baseline:Naive", "bias"])


@pytest.mark.slow
def test_too_short_history_or_bad_windows_is_rejected(sample_history: pd.DataFrame) -> None:
    short = sample_history[sample_history["date"] < sample_history["date"].min() + pd.Timedelta(weeks=12)]
    with pytest.raises(ValidationFailed, match="periods"):
        backtest(short, 4, 2)
    with pytest.raises(ValidationFailed, match="windows"):
        backtest(sample_history, 4, 0)
    with pytest.raises(ValidationFailed, match="horizon"):
        backtest(sample_history, 0, 2)


@pytest.mark.slow
def test_our_q90_is_calibrated_and_not_worse_than_naive_intervals(result) -> None:
    """Conformal q90 from inner origins: roughly 90% of later actuals at or below it, a pinball loss no worse
    than Naive's own interval (a q90 equal to the point forecast covers about half here)."""
    metrics = result.metrics
    assert 0.75 <= metrics.loc["ensemble", "q90_coverage"] <= 0.99
    assert metrics.loc["ensemble", "q90_pinball"] <= metrics.loc["baseline:Naive", "q90_pinball"]
