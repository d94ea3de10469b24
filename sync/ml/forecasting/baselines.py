"""The SPEC's statistical baselines, run through statsforecast on the whole panel in one call.

q90 comes from each model's own 80% interval (its upper bound is the 0.9 quantile of a central 80%
interval); models without intervals get conformal ones from 2 windows, as the benchmark method says.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from statsforecast import StatsForecast
from statsforecast.models import (
    ADIDA,
    IMAPA,
    TSB,
    AutoETS,
    Naive,
    SeasonalNaive,
    WindowAverage,
)
from statsforecast.utils import ConformalIntervals

from sync.ml.forecasting.panel import Array, Panel

BASELINE_NAMES = ("Naive", "SeasonalNaive", "WindowAverage", "ADIDA", "IMAPA", "TSB", "AutoETS")


def _models(horizon: int, n_periods: int) -> list[object]:
    conformal = ConformalIntervals(h=horizon, n_windows=2)
    season = 52 if n_periods > 52 else 1
    return [
        Naive(),
        SeasonalNaive(season_length=season),
        WindowAverage(window_size=8, prediction_intervals=conformal),
        ADIDA(prediction_intervals=conformal),
        IMAPA(prediction_intervals=conformal),
        TSB(alpha_d=0.2, alpha_p=0.2, prediction_intervals=conformal),
        AutoETS(season_length=1),
    ]


def panel_to_long(panel: Panel) -> pd.DataFrame:
    """statsforecast's long frame (``unique_id``, ``ds``, ``y``) of a panel."""
    n_sku, n_periods = panel.y.shape
    return pd.DataFrame(
        {
            "unique_id": np.repeat(np.arange(n_sku), n_periods),
            "ds": np.tile(panel.dates.to_numpy(), n_sku),
            "y": panel.y.reshape(-1),
        }
    )


def baseline_forecasts(panel: Panel, horizon: int) -> dict[str, tuple[Array, Array]]:
    """``{name: (point, q90)}``, each shaped ``(n_sku, horizon)``, forecasting past the panel's end."""
    engine = StatsForecast(models=_models(horizon, panel.n_periods), freq=panel.freq, n_jobs=1)
    result = engine.forecast(df=panel_to_long(panel), h=horizon, level=[80])
    result = result.sort_values(["unique_id", "ds"])
    n_sku = panel.y.shape[0]
    out: dict[str, tuple[Array, Array]] = {}
    for name in BASELINE_NAMES:
        point = result[name].to_numpy(dtype=np.float64).reshape(n_sku, horizon)
        upper = result[f"{name}-hi-80"].to_numpy(dtype=np.float64).reshape(n_sku, horizon)
        out[name] = (point, upper)
    return out
