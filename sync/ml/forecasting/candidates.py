"""Statistical candidate models (exponential smoothing and intermittent-demand methods) for many SKUs.

One statsforecast call per origin forecasts every SKU with every candidate; point forecasts only
(the ensemble's quantiles are calibrated separately, on rolling origins).

When the history has ``orders``, the models forecast each SKU's number of orders per period and the
result is multiplied by its units per order over the last 52 periods: one bulk order lifts a week's
quantity but not its order count, so the level these models track is not thrown by it. A SKU without
orders in that window is forecast from its quantities as usual. Their flat forecasts are then scaled by
the catalogue's seasonal index (``seasonal.py``).
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
from statsforecast import StatsForecast
from statsforecast.models import ADIDA, IMAPA, TSB, AutoETS, Naive, WindowAverage

from sync.errors import ValidationFailed
from sync.ml.forecasting.baselines import panel_to_long
from sync.ml.forecasting.features import order_size
from sync.ml.forecasting.panel import Array, Panel
from sync.ml.forecasting.seasonal import catalogue_index

STAT_NAMES = ("ETS", "TSB", "IMAPA", "ADIDA", "WindowAverage")


def _models() -> list[object]:
    return [
        AutoETS(season_length=1, model="ZNN", alias="ETS"),
        TSB(alpha_d=0.2, alpha_p=0.2),
        IMAPA(),
        ADIDA(),
        WindowAverage(window_size=8),
    ]


BACKENDS = ("local", "dask")


def _forecast_frame(long: pd.DataFrame, horizon: int, freq: str, backend: str) -> pd.DataFrame:
    """statsforecast's forecast of every series in ``long``, in this process or on a Dask cluster.

    ``backend="dask"`` hands statsforecast a Dask DataFrame: its own Fugue backend then fits the series
    partition by partition on the workers of the current ``dask.distributed`` client (one must be
    running, e.g. ``Client(LocalCluster(n_workers=2))``). The models and their arguments are the same,
    so the forecasts are too.
    """
    engine = StatsForecast(models=_models(), freq=freq, n_jobs=1, fallback_model=Naive())
    if backend == "local":
        return engine.forecast(df=long, h=horizon)
    try:
        import dask.dataframe as dd
        from distributed import default_client
    except ImportError as exc:  # the optional extra is not installed
        raise ImportError("the Dask backend needs the 'distributed' extra: "
                          "pip install 'inventory-improvements-system[distributed]'") from exc
    try:
        client = default_client()  # type: ignore[no-untyped-call]  # distributed leaves it unannotated
    except ValueError as exc:
        raise RuntimeError("the Dask backend needs a running dask.distributed Client") from exc
    n_series = long["unique_id"].nunique()
    partitions = max(1, min(n_series, 4 * len(client.scheduler_info().get("workers", {})) or 1))
    ids = long.assign(unique_id=long["unique_id"].astype(str).str.zfill(9))
    frame = dd.from_pandas(ids, npartitions=partitions, sort=False)  # type: ignore[no-untyped-call]  # dask: untyped
    result = engine.forecast(df=frame, h=horizon).compute()
    return result.assign(unique_id=result["unique_id"].astype(np.int64))


def stat_forecasts(
    panel: Panel, horizon: int, origins: list[int], seasonal: bool = True, backend: str = "local"
) -> dict[str, Array]:
    """``{name: forecasts}`` shaped ``(n_sku, len(origins), horizon)``, each origin fitted on data before it.

    With ``seasonal`` the flat forecasts are scaled by the catalogue's seasonal index (``seasonal.py``).
    ``backend`` is ``"local"`` (this process) or ``"dask"`` (the running Dask client's workers).
    """
    if backend not in BACKENDS:
        raise ValidationFailed(f"backend must be one of {BACKENDS}, got {backend!r}", details={"field": "backend"})
    n_sku = panel.y.shape[0]
    out = {name: np.empty((n_sku, len(origins), horizon)) for name in STAT_NAMES}
    for j, origin in enumerate(origins):
        past, unit = _order_series(panel.head(origin))
        result = _forecast_frame(panel_to_long(past), horizon, panel.freq, backend)
        result = result.sort_values(["unique_id", "ds"])
        season = catalogue_index(panel.y[:, :origin], horizon) if seasonal else np.ones(horizon)
        for name in STAT_NAMES:
            values = result[name].to_numpy(dtype=np.float64).reshape(n_sku, horizon) * unit[:, None]
            values = values * season[None, :]
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
