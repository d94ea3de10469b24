"""Forecast accuracy metrics of the SPEC's benchmark method, shared by the benchmark, ``backtest`` and tests.

All functions take dense arrays: ``actual``, ``forecast`` and ``q90`` shaped ``(n_sku, n_points)`` (the
points of every origin of one SKU, concatenated), and ``train`` shaped ``(n_sku, n_weeks)``: each SKU's
history before the first origin, which sets that SKU's scale. Forecasts below 0 count as 0.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import numpy.typing as npt

Array = npt.NDArray[np.float64]


def _clip(forecast: Array) -> Array:
    return np.maximum(np.asarray(forecast, dtype=np.float64), 0.0)


def _diff_scale(train: Array, *, squared: bool) -> Array:
    """Per-SKU mean of (squared or absolute) first differences of the training history."""
    diffs = np.diff(np.asarray(train, dtype=np.float64), axis=1)
    scale = np.nanmean(diffs**2 if squared else np.abs(diffs), axis=1)
    # A constant history has no scale; such a SKU would divide by zero, so it is left out (NaN).
    return np.where(scale > 0, scale, np.nan)


def rmsse(actual: Array, forecast: Array, train: Array) -> float:
    """Mean over SKUs of sqrt(mean e^2 / mean squared first difference of the SKU's history)."""
    err = _clip(forecast) - actual
    per_sku = np.sqrt(np.mean(err**2, axis=1) / _diff_scale(train, squared=True))
    return float(np.nanmean(per_sku))


def mase(actual: Array, forecast: Array, train: Array) -> float:
    """Mean over SKUs of mean |e| / mean |first difference| of the SKU's history."""
    err = _clip(forecast) - actual
    per_sku = np.mean(np.abs(err), axis=1) / _diff_scale(train, squared=False)
    return float(np.nanmean(per_sku))


def wape(actual: Array, forecast: Array) -> float:
    """Sum |e| / sum y over every SKU and point."""
    return float(np.sum(np.abs(_clip(forecast) - actual)) / np.sum(actual))


def bias(actual: Array, forecast: Array) -> float:
    """Sum e / sum y: positive means over-forecasting, negative under-forecasting."""
    return float(np.sum(_clip(forecast) - actual) / np.sum(actual))


def coverage(actual: Array, upper: Array) -> float:
    """Share of actuals at or below the quantile forecast."""
    return float(np.mean(np.asarray(actual) <= _clip(upper)))


def pinball(actual: Array, quantile_forecast: Array, q: float) -> Array:
    """Elementwise pinball (quantile) loss at level ``q``."""
    diff = np.asarray(actual, dtype=np.float64) - _clip(quantile_forecast)
    return np.maximum(q * diff, (q - 1.0) * diff)


def scaled_pinball(actual: Array, quantile_forecast: Array, train: Array, q: float = 0.9) -> float:
    """Mean over SKUs of the mean pinball loss at ``q`` / mean |first difference| (scaled like MASE)."""
    per_sku = np.mean(pinball(actual, quantile_forecast, q), axis=1) / _diff_scale(train, squared=False)
    return float(np.nanmean(per_sku))


@dataclass(frozen=True)
class Scores:
    """The benchmark's figures for one model."""

    rmsse: float
    mase: float
    wape: float
    bias: float
    coverage: float
    pinball: float

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


def score(actual: Array, forecast: Array, q90: Array, train: Array) -> Scores:
    """Every benchmark figure for one model's forecasts."""
    return Scores(
        rmsse=rmsse(actual, forecast, train),
        mase=mase(actual, forecast, train),
        wape=wape(actual, forecast),
        bias=bias(actual, forecast),
        coverage=coverage(actual, q90),
        pinball=scaled_pinball(actual, q90, train, 0.9),
    )
