"""No systematic under-forecast into the peak: the catalogue's seasonal index, on real and synthetic data."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from sync.ml.forecasting import backtest
from sync.ml.forecasting.seasonal import SEASON, catalogue_index

PEAK_BIAS_BOUND = 0.20


@pytest.mark.slow
def test_bias_into_the_samples_november_peak_stays_within_the_bound(sample_history: pd.DataFrame) -> None:
    """The bundled sample's last 8 weeks (2011-10-16 .. 2011-12-04) are its busiest of the year.

    Forecast from mid-October, the flat statistical candidates carried the October level into November:
    the ensemble's bias was -29% there (IMAPA's -36%). With the catalogue's seasonal index it is -16%;
    a 35-SKU sample is noisy, so the bound is 20%, stated here and in docs/forecasting.md.
    """
    weeks = pd.DatetimeIndex(sorted(sample_history["date"].unique()))
    totals = sample_history.groupby("date")["quantity"].sum()
    assert totals[weeks[-8:]].mean() > 1.2 * totals[weeks[-60:-8]].mean()  # it is a peak
    result = backtest(sample_history, horizon=8, windows=1)
    metrics = result.metrics
    assert result.origins[0] == pd.Timestamp("2011-10-16")
    assert abs(metrics.loc["ensemble", "bias"]) <= PEAK_BIAS_BOUND, metrics.loc["ensemble"]
    assert abs(metrics.loc["ensemble", "bias"]) < abs(metrics.loc["baseline:IMAPA", "bias"])


def test_the_index_is_the_year_ago_ratio_of_pooled_demand() -> None:
    """Pooled demand doubling in weeks 40-47 of each year: from week 40, the index says so."""
    periods = SEASON + 40
    season = np.where((np.arange(periods + 8) % SEASON >= 40) & (np.arange(periods + 8) % SEASON < 48), 2.0, 1.0)
    rng = np.random.default_rng(0)
    levels = rng.uniform(1, 50, size=(30, 1))
    y = levels * season[None, :periods]
    full = catalogue_index(y, 8, strength=1.0, smooth=0)
    np.testing.assert_allclose(full, 2.0)
    # STRENGTH 0.5; SMOOTH 1 averages each target week with its neighbours: the lift's edge weeks are 5/3
    expected = np.sqrt(np.array([5 / 3, 2, 2, 2, 2, 2, 2, 5 / 3]))
    np.testing.assert_allclose(catalogue_index(y, 8), expected)
    assert (catalogue_index(y[:5], 8) == 1.0).all()  # too few SKUs to pool
    assert (catalogue_index(y[:, :SEASON], 8) == 1.0).all()  # less than a season plus the window
