"""Statistical candidate models (exponential smoothing and intermittent-demand methods) for many SKUs.

One statsforecast call per origin forecasts every SKU with every candidate; point forecasts only
(the ensemble's quantiles are calibrated separately, on rolling origins).

When the history has ``orders``, the models forecast each SKU's number of orders per period and the
result is multiplied by its units per order over the last 52 periods: one bulk order lifts a week's
quantity but not its order count, so the level these models track is not thrown by it. A SKU without
orders in that window is forecast from its quantities as usual.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
from statsforecast import StatsForecast
from statsforecast.models import ADIDA, IMAPA, TSB, AutoETS, Naive, WindowAverage

from sync.ml.forecasting.baselines import panel_to_long
from sync.ml.forecasting.features import order_size
from sync.ml.forecasting.panel import Array, Panel

STAT_NAMES = ("ETS", "TSB", "IMAPA", "ADIDA", "WindowAverage")


def _models() -> list[object]:
    return [
        AutoETS(season_length=1, model="ZNN", alias="ETS"),
        TSB(alpha_d=0.2, alpha_p=0.2),
        IMAPA(),
        ADIDA(),
        WindowAverage(window_size=8),
    ]


def stat_forecasts(panel: Panel, horizon: int, origins: list[int]) -> dict[str, Array]:
    """``{name: forecasts}`` shaped ``(n_sku, len(origins), horizon)``, each origin fitted on data before it."""
    n_sku = panel.y.shape[0]
    out = {name: np.empty((n_sku, len(origins), horizon)) for name in STAT_NAMES}
    for j, origin in enumerate(origins):
        past, unit = _order_series(panel.head(origin))
        engine = StatsForecast(models=_models(), freq=panel.freq, n_jobs=1, fallback_model=Naive())
        result = engine.forecast(df=panel_to_long(past), h=horizon)
        result = result.sort_values(["unique_id", "ds"])
        for name in STAT_NAMES:
            values = result[name].to_numpy(dtype=np.float64).reshape(n_sku, horizon) * unit[:, None]
            out[name][:, j, :] = np.maximum(np.nan_to_num(values, nan=0.0), 0.0)
    return out


def _order_series(past: Panel) -> tuple[Panel, Array]:
    """The series the models fit (orders where known, else quantity) and the factor back to units."""
    if past.orders is None:
        return past, np.ones(past.y.shape[0])
    size = order_size(past.y, past.orders)
    known = np.isfinite(size)
    series = np.where(known[:, None], past.orders, past.y)
    return replace(past, y=series), np.where(known, size, 1.0)
