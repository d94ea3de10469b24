"""``forecast_demand``: global LightGBM plus statistical candidates, chosen per segment on inner origins.

Steps (each vectorised over SKUs):
1. inner origins: the last ``inner_windows`` blocks of ``horizon`` periods of the history. The global
   model is trained on targets before the first inner origin and forecasts every inner origin; the
   statistical candidates are refitted at each inner origin.
2. per Syntetos-Boylan segment, the blend of candidates with the lowest inner RMSSE is chosen, and the
   quantiles of its inner residuals, in units of sqrt(forecast x recent spread), become the conformal
   offsets of each requested quantile.
3. the global model is retrained on the whole history; every candidate forecasts past its end; the
   chosen blend is the point forecast and point + unit x residual quantile the quantile forecast.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from statistics import NormalDist

import numpy as np
import pandas as pd

from sync.errors import ValidationFailed
from sync.ml.forecasting.candidates import stat_forecasts
from sync.ml.forecasting.ensemble import Selection, blend, recent_spread, residual_unit, segment, select
from sync.ml.forecasting.features import sku_scale
from sync.ml.forecasting.gbm import GlobalModel
from sync.ml.forecasting.panel import Array, Panel, to_panel, validate_horizon

GBM = "LightGBM"
FALLBACK = "ETS"  # the candidate used alone when the history is too short for the global model
MIN_PERIODS_FOR_INNER = 8


def validate_quantiles(quantiles: Sequence[float]) -> tuple[float, ...]:
    try:
        values = tuple(float(q) for q in quantiles)
    except (TypeError, ValueError) as exc:
        raise ValidationFailed("quantiles must be numbers in (0, 1)", details={"field": "quantiles"}) from exc
    if any(not 0.0 < q < 1.0 for q in values):
        raise ValidationFailed(f"quantiles must lie in (0, 1), got {values}", details={"field": "quantiles"})
    return values


def quantile_column(q: float) -> str:
    return f"q{round(100 * q)}"


class _Steps:
    """A rich progress bar when asked for, otherwise nothing."""

    def __init__(self, total: int, enabled: bool) -> None:
        self.total = total
        self.enabled = enabled
        self._progress = None
        self._task = None

    @contextmanager
    def run(self) -> Iterator[_Steps]:
        if not self.enabled:
            yield self
            return
        from rich.progress import Progress

        with Progress(transient=False) as progress:
            self._progress = progress
            self._task = progress.add_task("forecast", total=self.total)
            yield self

    def advance(self, label: str) -> None:
        if self._progress is not None and self._task is not None:
            self._progress.update(self._task, advance=1, description=label)


@dataclass
class DemandForecaster:
    """The ensemble forecaster on a dense panel. ``fit`` learns the selection; ``predict`` forecasts."""

    horizon: int
    quantiles: tuple[float, ...] = (0.9,)
    inner_windows: int = 2
    num_rounds: int = 150
    progress: bool = False
    backend: str = "local"  # where the statistical candidates run: "local" or "dask" (candidates.py)
    selection_: Selection | None = None
    segments_: np.ndarray | None = None
    scale_: Array | None = None
    spread_: Array | None = None
    model_: GlobalModel | None = None
    panel_: Panel | None = None
    inner_: dict[str, Array] = field(default_factory=dict)
    final_: dict[str, Array] = field(default_factory=dict)

    def _inner_origins(self, n_periods: int) -> list[int]:
        windows = self.inner_windows
        while windows > 0 and n_periods - windows * self.horizon < MIN_PERIODS_FOR_INNER:
            windows -= 1
        return [n_periods - self.horizon * (windows - j) for j in range(windows)]

    def fit(self, panel: Panel) -> DemandForecaster:
        steps = _Steps(total=4, enabled=self.progress)
        self.panel_ = panel
        self.scale_ = sku_scale(panel.y)
        self.segments_ = segment(panel.y)
        self.spread_ = recent_spread(panel.y)
        origins = self._inner_origins(panel.n_periods)
        with steps.run(), ThreadPoolExecutor(max_workers=2) as pool:
            # The two boosters train at once (LightGBM releases the GIL), one thread each: on 2 cores
            # this halves the wall time, and each result is the same as when trained alone.
            final_job = (pool.submit(self._global_forecast, panel, None, [panel.n_periods])
                         if GlobalModel.can_fit(panel.n_periods) else None)
            inner_job = (pool.submit(self._global_forecast, panel, origins[0], origins)
                         if origins and GlobalModel.can_fit(origins[0]) else None)
            final = {n: f[:, 0, :] for n, f in stat_forecasts(panel, self.horizon, [panel.n_periods],
                                                              backend=self.backend).items()}
            steps.advance("statistical models")
            if origins:
                inner = stat_forecasts(panel, self.horizon, origins, backend=self.backend)
                steps.advance("inner statistical models")
                if inner_job is not None:
                    inner = {GBM: inner_job.result(), **inner}
                steps.advance("inner global model")
                actual = np.stack([panel.y[:, o : o + self.horizon] for o in origins], axis=1)
                self.inner_ = inner
                primary = GBM if GBM in inner else FALLBACK
                self.selection_ = select(
                    inner, actual, self.scale_, self.spread_, self.segments_, primary, self.quantiles
                )
            else:
                steps.advance("history too short for inner origins")
                steps.advance("")
                self.selection_ = None
            self.final_ = final if final_job is None else {GBM: final_job.result()[:, 0, :], **final}
            steps.advance("global model")
        return self

    def _global_forecast(self, panel: Panel, target_end: int | None, origins: list[int]) -> Array:
        """Train the global model on targets before ``target_end`` and forecast from ``origins``."""
        model = GlobalModel(self.horizon, num_rounds=self.num_rounds).fit(panel, target_end)
        if target_end is None:
            self.model_ = model
        return model.predict(panel, origins)

    def _quantiles(self, point: Array, offsets: dict[float, Array] | None) -> dict[float, Array]:
        """point + residual unit x segment's residual quantile; upper quantiles never below the point."""
        assert self.spread_ is not None and self.segments_ is not None
        out: dict[float, Array] = {}
        unit = residual_unit(point, self.spread_)
        for q in self.quantiles:
            if offsets is None:
                # Too little history for inner origins: a normal quantile of the SKU's own spread.
                value = point + NormalDist().inv_cdf(q) * self.spread_[:, None]
            else:
                value = point + unit * offsets[q][self.segments_][:, None]
            out[q] = np.maximum(np.maximum(value, point) if q >= 0.5 else value, 0.0)
        return out

    def predict(self) -> tuple[Array, dict[float, Array]]:
        """Point forecast and ``{q: quantile forecast}``, each shaped ``(n_sku, horizon)``."""
        assert self.segments_ is not None
        point = np.empty_like(self.final_[FALLBACK])
        default = {GBM: 1.0} if GBM in self.final_ else {FALLBACK: 1.0}
        for seg in np.unique(self.segments_):
            mask = self.segments_ == seg
            weights = default if self.selection_ is None else self.selection_.weights[seg]
            point[mask] = blend({n: f[mask] for n, f in self.final_.items()}, weights)
        point = np.maximum(point, 0.0)
        offsets = None if self.selection_ is None else self.selection_.residual_quantiles
        return point, self._quantiles(point, offsets)

    def predict_candidates(self) -> dict[str, tuple[Array, dict[float, Array]]]:
        """Each candidate alone, with quantiles calibrated on its own inner residuals."""
        out = {}
        for name, point in self.final_.items():
            offsets = None if self.selection_ is None else self.selection_.candidate_quantiles.get(name)
            out[name] = (point, self._quantiles(point, offsets))
        return out


def forecast_demand(
    history: pd.DataFrame, horizon: int, freq: str = "W-SUN",
    quantiles: Sequence[float] = (0.9,), progress: bool = False, *, backend: str = "local",
) -> pd.DataFrame:
    """Forecast every SKU ``horizon`` periods past the end of ``history``.

    ``history`` is long: ``sku``, ``date``, ``quantity`` and optionally ``price``, ``promotion`` and
    ``orders``. Returns one row per SKU and future period: ``sku``, ``date``, ``forecast`` (a mean
    forecast) and ``q{round(100*q)}`` per quantile. Raises ``ValidationFailed`` for unusable input.
    ``backend="dask"`` runs the statistical candidates on the running Dask client's workers
    (statsforecast's own Dask backend; same forecasts).
    """
    steps = validate_horizon(horizon)
    levels = validate_quantiles(quantiles)
    return forecast_panel(to_panel(history, freq), steps, levels, progress=progress, backend=backend)


def forecast_panel(
    panel: Panel, horizon: int, quantiles: tuple[float, ...] = (0.9,), progress: bool = False,
    backend: str = "local",
) -> pd.DataFrame:
    """``forecast_demand`` on an already validated panel (the frame it returns, same columns)."""
    steps = validate_horizon(horizon)
    levels = validate_quantiles(quantiles)
    forecaster = DemandForecaster(steps, levels, progress=progress, backend=backend).fit(panel)
    point, quant = forecaster.predict()
    dates = panel.future_dates(steps)
    n_sku = len(panel.skus)
    frame = pd.DataFrame(
        {
            "sku": np.repeat(panel.skus, steps),
            "date": np.tile(dates.to_numpy(), n_sku),
            "forecast": point.reshape(-1),
        }
    )
    for q, values in quant.items():
        frame[quantile_column(q)] = values.reshape(-1)
    return frame
