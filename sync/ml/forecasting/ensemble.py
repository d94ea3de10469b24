"""Choose a combination of candidate forecasts per demand segment, and calibrate quantiles, on inner origins.

Everything here sees only rolling origins inside the training history: the caller's evaluation
windows are never looked at.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from sync.ml.forecasting.panel import Array

SEGMENTS = ("smooth", "erratic", "intermittent", "lumpy")
ADI_CUT = 1.32
CV2_CUT = 0.49


def segment(y: Array) -> npt.NDArray[np.int64]:
    """Syntetos-Boylan class per SKU from its history: ADI (mean gap between sales) and CV² of sizes."""
    nonzero = y > 0
    count = nonzero.sum(axis=1)
    adi = np.where(count > 0, y.shape[1] / np.maximum(count, 1), np.inf)
    sizes = np.where(nonzero, y, np.nan)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.nanmean(np.where(count[:, None] > 0, sizes, 0.0), axis=1)
        var = np.nanvar(np.where(count[:, None] > 0, sizes, 0.0), axis=1)
        cv2 = np.where(mean > 0, var / mean**2, 0.0)
    intermittent = adi >= ADI_CUT
    erratic = cv2 >= CV2_CUT
    return (intermittent.astype(np.int64) * 2) + erratic.astype(np.int64)


def candidate_weights(names: list[str], primary: str) -> list[dict[str, float]]:
    """The combinations tried: each model alone; the primary with each other model at 50/50 and at 70/30
    (the primary's share first); and the equal-weight mean of all of them."""
    combos: list[dict[str, float]] = [{n: 1.0} for n in names]
    combos += [{primary: w, n: 1.0 - w} for n in names if n != primary for w in (0.5, 0.7)]
    combos.append({n: 1.0 / len(names) for n in names})
    return combos


def blend(forecasts: dict[str, Array], weights: dict[str, float]) -> Array:
    """The weighted sum of the named forecasts."""
    names = iter(weights.items())
    first, weight = next(names)
    out: Array = weight * forecasts[first]
    for name, w in names:
        out = out + w * forecasts[name]
    return out


SPREAD_WINDOW = 52


def recent_spread(y: Array, window: int = SPREAD_WINDOW) -> Array:
    """Per-SKU standard deviation of the last ``window`` periods: how much this SKU's demand moves."""
    spread: Array = np.maximum(np.std(y[:, -window:], axis=1), 1e-3)
    return spread


def residual_unit(point: Array, spread: Array) -> Array:
    """The unit residuals are measured in: sqrt(forecast x spread).

    Tweedie-like demand has a standard deviation growing with the square root of its mean; with the
    SKU's recent spread as the dispersion, one residual quantile pooled over many SKUs fits each of them.
    (Measured against scaling by the SKU's RMSSE scale alone: q90 pinball 0.399 against 0.436.)
    """
    shape = (-1,) + (1,) * (point.ndim - 1)
    spread = spread.reshape(shape)
    return np.sqrt(np.maximum(point, 1e-3 * spread) * spread)


def _scaled_rmse(actual: Array, forecast: Array, scale: Array) -> float:
    """Mean over SKUs of root mean squared error / scale: the RMSSE the forecast is judged by."""
    err = (forecast - actual).reshape(actual.shape[0], -1)
    return float(np.mean(np.sqrt(np.mean(err**2, axis=1)) / scale))


@dataclass
class Selection:
    """Chosen weights per segment, their inner score, and the scaled residual quantiles per segment."""

    weights: list[dict[str, float]]
    inner_rmsse: list[float]
    residual_quantiles: dict[float, Array]  # quantile level -> (n_segments,), in residual units
    candidate_quantiles: dict[str, dict[float, Array]]  # the same, for each candidate alone


def select(
    inner: dict[str, Array], actual: Array, scale: Array, spread: Array,
    segments: npt.NDArray[np.int64], primary: str, quantiles: tuple[float, ...],
) -> Selection:
    """Per segment, the candidate combination with the lowest inner RMSSE, then conformal residual quantiles.

    ``inner`` maps a model to forecasts shaped ``(n_sku, n_windows, horizon)``; ``actual`` likewise.
    Residuals are divided by ``residual_unit``, so a quantile pooled over a segment's SKUs, origins and
    horizons fits each SKU (split conformal prediction on rolling origins).
    """
    names = list(inner)
    combos = candidate_weights(names, primary)
    weights: list[dict[str, float]] = []
    scores: list[float] = []
    resq = {q: np.zeros(len(SEGMENTS)) for q in quantiles}
    candq = {n: {q: np.zeros(len(SEGMENTS)) for q in quantiles} for n in names}
    for seg in range(len(SEGMENTS)):
        mask = segments == seg
        if not mask.any():
            weights.append({primary: 1.0})
            scores.append(float("nan"))
            continue
        sub = {n: f[mask] for n, f in inner.items()}
        results = [_scaled_rmse(actual[mask], blend(sub, c), scale[mask]) for c in combos]
        best = int(np.argmin(results))
        weights.append(combos[best])
        scores.append(results[best])
        chosen = np.maximum(blend(sub, combos[best]), 0.0)
        residual = (actual[mask] - chosen) / residual_unit(chosen, spread[mask])
        for q in quantiles:
            resq[q][seg] = np.quantile(residual, q)
        for n in names:
            alone = (actual[mask] - sub[n]) / residual_unit(sub[n], spread[mask])
            for q in quantiles:
                candq[n][q][seg] = np.quantile(alone, q)
    return Selection(weights=weights, inner_rmsse=scores, residual_quantiles=resq, candidate_quantiles=candq)
