"""``backtest``: rolling-origin evaluation of our forecast, each candidate model and the SPEC's baselines.

Origins are the last ``windows`` blocks of ``horizon`` periods; each model sees only data before an
origin (our forecaster runs its own inner selection inside that data). Errors are scaled per SKU by the
history before the first origin, as in the SPEC's benchmark method.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pandas as pd

from sync.errors import ValidationFailed
from sync.ml.forecasting.baselines import baseline_forecasts
from sync.ml.forecasting.metrics import score
from sync.ml.forecasting.model import forecast_panel
from sync.ml.forecasting.panel import Array, to_panel, validate_horizon

OURS = "ensemble"
MIN_TRAIN_PERIODS = 16


@dataclass(frozen=True)
class BacktestResult:
    """``metrics``: one row per model (ours first, then candidates, then baselines ``baseline:<name>``)."""

    metrics: pd.DataFrame
    origins: list[pd.Timestamp]
    seconds: float  # our forecaster's time over all origins (baselines excluded)


def backtest(
    history: pd.DataFrame, horizon: int, windows: int, freq: str = "W-SUN", progress: bool = False
) -> BacktestResult:
    """RMSSE, MASE, WAPE, bias, q90 coverage and scaled q90 pinball of every model on rolling origins."""
    steps = validate_horizon(horizon)
    if isinstance(windows, bool) or not isinstance(windows, int | np.integer) or windows < 1:
        raise ValidationFailed(f"windows must be an integer >= 1, got {windows!r}", details={"field": "windows"})
    panel = to_panel(history, freq)
    first = panel.n_periods - steps * int(windows)
    if first < MIN_TRAIN_PERIODS:
        raise ValidationFailed(
            f"history has {panel.n_periods} periods; {windows} windows of {steps} need at least "
            f"{MIN_TRAIN_PERIODS + steps * int(windows)}",
            details={"field": "history"},
        )
    origins = [first + steps * j for j in range(int(windows))]
    points: dict[str, list[Array]] = {}
    uppers: dict[str, list[Array]] = {}

    def add(name: str, point: Array, upper: Array) -> None:
        points.setdefault(name, []).append(point)
        uppers.setdefault(name, []).append(upper)

    seconds = 0.0
    for origin in _iterate(origins, progress):
        past = panel.head(origin)
        start = time.perf_counter()
        forecast = forecast_panel(past, steps, (0.9,))
        seconds += time.perf_counter() - start
        add(OURS, forecast.point, forecast.quantiles[0.9])
        for name, (cand_point, cand_quant) in forecast.candidates.items():
            add(name, cand_point, cand_quant[0.9])
        for name, (base_point, base_upper) in baseline_forecasts(past, steps).items():
            add(f"baseline:{name}", base_point, base_upper)
    actual = np.concatenate([panel.y[:, o : o + steps] for o in origins], axis=1)
    train = panel.y[:, :first]
    rows = {
        name: score(actual, np.concatenate(points[name], axis=1), np.concatenate(uppers[name], axis=1), train)
        for name in points
    }
    metrics = pd.DataFrame({name: s.as_dict() for name, s in rows.items()}).T
    metrics = metrics.rename(columns={"coverage": "q90_coverage", "pinball": "q90_pinball"})
    metrics.index.name = "model"
    return BacktestResult(metrics=metrics, origins=[panel.dates[o] for o in origins], seconds=seconds)


def _iterate(origins: list[int], progress: bool) -> Iterator[int]:
    if not progress:
        yield from origins
        return
    from rich.progress import track

    yield from track(origins, description="backtest origins")
