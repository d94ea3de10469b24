"""``forecast_demand``: global LightGBM plus statistical candidates, chosen per segment on inner origins.

Shape: one function, ``forecast_panel(panel, horizon, quantiles, ...) -> Forecast``, and no estimator
class. Learning the selection needs the panel, and what is forecast is that same panel's future: there
is no new input to predict from later, so a ``fit``/``predict`` pair would only pretend (a ``predict()``
taking nothing, a "not fitted" state to check). The function returns everything at once in a frozen
:class:`Forecast`: the point and quantile forecasts, each candidate's own, and the record of the fit
(segments, the chosen blends, the inner-origin forecasts, the final global model).

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

from collections.abc import Container, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from statistics import NormalDist
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt
import pandas as pd

from sync.errors import ValidationFailed
from sync.ml.forecasting.candidates import stat_forecasts
from sync.ml.forecasting.ensemble import Selection, blend, recent_spread, residual_unit, segment, select
from sync.ml.forecasting.features import sku_scale
from sync.ml.forecasting.gbm import GlobalModel
from sync.ml.forecasting.panel import Array, Panel, to_panel, validate_horizon

Quantiles = dict[float, Array]

if TYPE_CHECKING:
    from rich.progress import Progress, TaskID

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
        self._progress: Progress | None = None
        self._task: TaskID | None = None

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


@dataclass(frozen=True)
class Forecast:
    """One fit of the ensemble on a panel and its forecasts ``horizon`` periods past the panel's end.

    Arrays are shaped ``(n_sku, horizon)`` in the order of ``skus``; quantile dicts map each level to one.
    """

    skus: np.ndarray
    dates: pd.DatetimeIndex
    point: Array  # the chosen blend per segment, never below 0
    quantiles: Quantiles  # point + residual unit x the segment's residual quantile
    candidates: dict[str, tuple[Array, Quantiles]]  # each candidate alone, calibrated on its own residuals
    # the record of the fit
    segments: npt.NDArray[np.int64]  # Syntetos-Boylan segment per SKU (ensemble.SEGMENTS)
    selection: Selection | None  # blend and residual quantiles per segment; None: too short for inner origins
    inner: dict[str, Array]  # each candidate's inner-origin forecasts, (n_sku, n_origins, horizon)
    model: GlobalModel | None  # the global model trained on the whole history (None: too short for it)

    def blend_of(self, segment_index: int) -> dict[str, float]:
        """The weights of the candidates in the point forecast of a segment."""
        if self.selection is None:
            return _default_weights(self.candidates)
        return self.selection.weights[segment_index]

    def frame(self) -> pd.DataFrame:
        """One row per SKU and future period: ``sku``, ``date``, ``forecast`` and ``q{round(100*q)}`` per
        quantile (``forecast_demand``'s answer)."""
        steps = self.point.shape[1]
        frame = pd.DataFrame(
            {
                "sku": np.repeat(self.skus, steps),
                "date": np.tile(self.dates.to_numpy(), len(self.skus)),
                "forecast": self.point.reshape(-1),
            }
        )
        for q, values in self.quantiles.items():
            frame[quantile_column(q)] = values.reshape(-1)
        return frame


def _default_weights(names: Container[str]) -> dict[str, float]:
    """The candidate used alone without inner origins: the global model, or ETS when there is none."""
    return {GBM: 1.0} if GBM in names else {FALLBACK: 1.0}


def _inner_origins(n_periods: int, horizon: int, inner_windows: int) -> list[int]:
    windows = inner_windows
    while windows > 0 and n_periods - windows * horizon < MIN_PERIODS_FOR_INNER:
        windows -= 1
    return [n_periods - horizon * (windows - j) for j in range(windows)]


def _global_forecast(panel: Panel, horizon: int, num_rounds: int, target_end: int | None,
                     origins: list[int]) -> tuple[GlobalModel, Array]:
    """Train the global model on targets before ``target_end`` and forecast from ``origins``."""
    model = GlobalModel(horizon, num_rounds=num_rounds).fit(panel, target_end)
    return model, model.predict(panel, origins)


def _quantiles(point: Array, offsets: dict[float, Array] | None, spread: Array,
               segments: npt.NDArray[np.int64], quantiles: tuple[float, ...]) -> Quantiles:
    """point + residual unit x segment's residual quantile; upper quantiles never below the point."""
    out: Quantiles = {}
    unit = residual_unit(point, spread)
    for q in quantiles:
        if offsets is None:
            # Too little history for inner origins: a normal quantile of the SKU's own spread.
            value = point + NormalDist().inv_cdf(q) * spread[:, None]
        else:
            value = point + unit * offsets[q][segments][:, None]
        out[q] = np.maximum(np.maximum(value, point) if q >= 0.5 else value, 0.0)
    return out


def forecast_panel(
    panel: Panel, horizon: int, quantiles: Sequence[float] = (0.9,), progress: bool = False,
    backend: str = "local", *, inner_windows: int = 2, num_rounds: int = 150,
) -> Forecast:
    """Fit the ensemble on ``panel`` and forecast it ``horizon`` periods on (the module docstring's steps).

    ``backend`` is where the statistical candidates run: ``"local"`` or ``"dask"`` (candidates.py).
    """
    steps = validate_horizon(horizon)
    levels = validate_quantiles(quantiles)
    progress_bar = _Steps(total=4, enabled=progress)
    scale = sku_scale(panel.y)
    segments = segment(panel.y)
    spread = recent_spread(panel.y)
    origins = _inner_origins(panel.n_periods, steps, inner_windows)
    selection: Selection | None = None
    inner: dict[str, Array] = {}
    with progress_bar.run(), ThreadPoolExecutor(max_workers=2) as pool:
        # The two boosters train at once (LightGBM releases the GIL), one thread each: on 2 cores
        # this halves the wall time, and each result is the same as when trained alone.
        final_job = (pool.submit(_global_forecast, panel, steps, num_rounds, None, [panel.n_periods])
                     if GlobalModel.can_fit(panel.n_periods) else None)
        inner_job = (pool.submit(_global_forecast, panel, steps, num_rounds, origins[0], origins)
                     if origins and GlobalModel.can_fit(origins[0]) else None)
        final = {n: f[:, 0, :] for n, f in stat_forecasts(panel, steps, [panel.n_periods],
                                                          backend=backend).items()}
        progress_bar.advance("statistical models")
        if origins:
            inner = stat_forecasts(panel, steps, origins, backend=backend)
            progress_bar.advance("inner statistical models")
            if inner_job is not None:
                inner = {GBM: inner_job.result()[1], **inner}
            progress_bar.advance("inner global model")
            actual = np.stack([panel.y[:, o : o + steps] for o in origins], axis=1)
            primary = GBM if GBM in inner else FALLBACK
            selection = select(inner, actual, scale, spread, segments, primary, levels)
        else:
            progress_bar.advance("history too short for inner origins")
            progress_bar.advance("")
        model: GlobalModel | None = None
        if final_job is not None:
            model, final_gbm = final_job.result()
            final = {GBM: final_gbm[:, 0, :], **final}
        progress_bar.advance("global model")

    point = np.empty_like(final[FALLBACK])
    for seg in np.unique(segments):
        mask = segments == seg
        weights = _default_weights(final) if selection is None else selection.weights[seg]
        point[mask] = blend({n: f[mask] for n, f in final.items()}, weights)
    point = np.maximum(point, 0.0)
    offsets = None if selection is None else selection.residual_quantiles
    candidates = {
        name: (alone, _quantiles(alone, None if selection is None else selection.candidate_quantiles.get(name),
                                 spread, segments, levels))
        for name, alone in final.items()
    }
    return Forecast(skus=panel.skus, dates=panel.future_dates(steps), point=point,
                    quantiles=_quantiles(point, offsets, spread, segments, levels), candidates=candidates,
                    segments=segments, selection=selection, inner=inner, model=model)


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
    return forecast_panel(to_panel(history, freq), steps, levels, progress=progress, backend=backend).frame()
