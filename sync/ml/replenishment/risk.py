"""Demand over the risk period (lead time + review period) as a weighted sample per SKU.

The shape comes from the SKU's own history: every window of ``risk`` consecutive periods among its
last ``window`` periods (from its first sale on) gives one total, so lumpy and intermittent demand
keep their lumps instead of being squeezed into mean + z * sd. The level comes from the forecast:
each total is multiplied by (forecast per period) / (history mean per period). An uncertain or
fractional lead time mixes the totals of several window lengths, weighted by the lead time's
(discretised normal) distribution. A SKU without usable history gets Poisson quantiles of the
forecast instead (named in the plan's ``distribution_source``).
"""

from __future__ import annotations

from dataclasses import dataclass
from statistics import NormalDist

import numpy as np
import numpy.typing as npt
from scipy.stats import poisson

from sync.ml.replenishment.params import Array

HISTORY_WINDOW = 52
POISSON_POINTS = 40
MAX_LENGTHS = 25


@dataclass(frozen=True)
class RiskSamples:
    """``values[i, j]`` is a possible risk-period demand of SKU i with probability ``weights[i, j]``."""

    values: Array
    weights: Array
    empirical: npt.NDArray[np.bool_]

    def mean(self) -> Array:
        mean: Array = (self.values * self.weights).sum(axis=1)
        return mean

    def sd(self) -> Array:
        mean = self.mean()
        sd: Array = np.sqrt(np.maximum((self.weights * (self.values - mean[:, None]) ** 2).sum(axis=1), 0.0))
        return sd

    def shortage(self, stock: Array) -> Array:
        """Expected demand above ``stock`` per SKU: E[(X - stock)+]."""
        shortage: Array = (self.weights * np.maximum(self.values - stock[:, None], 0.0)).sum(axis=1)
        return shortage


def lead_time_lengths(lead_time: float, lead_time_sd: float) -> list[tuple[int, float]]:
    """Whole lead times and their probabilities: a normal(L, sd) discretised, or L's two neighbours."""
    if lead_time_sd > 0:
        low = max(0, int(np.floor(lead_time - 3 * lead_time_sd)))
        high = int(np.ceil(lead_time + 3 * lead_time_sd))
        if high - low + 1 > MAX_LENGTHS:
            step_low = max(0, round(lead_time) - MAX_LENGTHS // 2)
            low, high = step_low, step_low + MAX_LENGTHS - 1
        dist = NormalDist(lead_time, lead_time_sd)
        pairs = []
        for k in range(low, high + 1):
            lo = -np.inf if k == low else k - 0.5
            hi = np.inf if k == high else k + 0.5
            pairs.append((k, dist.cdf(hi) - (0.0 if lo == -np.inf else dist.cdf(lo))))
        total = sum(p for _, p in pairs)
        return [(k, p / total) for k, p in pairs if p > 0]
    floor = int(np.floor(lead_time))
    frac = lead_time - floor
    if frac < 1e-9:
        return [(floor, 1.0)]
    return [(floor, 1.0 - frac), (floor + 1, frac)]


def risk_samples(y: Array, level: Array, lead_time: Array, lead_time_sd: Array, review_period: int,
                 window: int = HISTORY_WINDOW) -> RiskSamples:
    """Risk-period demand samples for every SKU of ``y`` (SKUs x periods), at per-period ``level``."""
    n, periods = y.shape
    start = max(0, periods - window)
    recent = y[:, start:]
    width = recent.shape[1]
    sold = recent > 0
    first = np.where(sold.any(axis=1), sold.argmax(axis=1), width)
    valid_periods = width - first
    hist_mean = np.where(valid_periods > 0,
                         recent.sum(axis=1) / np.maximum(valid_periods, 1), 0.0)
    scale = np.where(hist_mean > 0, level / np.where(hist_mean > 0, hist_mean, 1.0), 0.0)
    mixes = [lead_time_lengths(float(lt), float(sd)) for lt, sd in zip(lead_time, lead_time_sd, strict=True)]
    lengths = sorted({k + review_period for mix in mixes for k, _ in mix})
    cums = np.concatenate([np.zeros((n, 1)), np.cumsum(recent, axis=1)], axis=1)
    blocks_v: list[Array] = []
    blocks_w: list[Array] = []
    for m in lengths:
        count = max(width - m + 1, 0)
        if count == 0:
            continue
        sums = cums[:, m : m + count] - cums[:, :count]  # window j covers periods j .. j+m-1
        ok = np.arange(count)[None, :] >= first[:, None]
        share = np.array([sum(p for k, p in mix if k + review_period == m) for mix in mixes])
        n_ok = ok.sum(axis=1)
        w = np.where(ok, (share / np.maximum(n_ok, 1))[:, None], 0.0)
        blocks_v.append(sums * scale[:, None])
        blocks_w.append(w)
    values = np.concatenate(blocks_v, axis=1) if blocks_v else np.zeros((n, 1))
    weights = np.concatenate(blocks_w, axis=1) if blocks_w else np.zeros((n, 1))
    total = weights.sum(axis=1)
    # A mix whose longer windows did not fit the history: renormalise what is there.
    empirical = (total > 0.5) & (hist_mean > 0)
    weights = np.where(empirical[:, None], weights / np.where(total > 0, total, 1.0)[:, None], 0.0)
    fallback = np.flatnonzero(~empirical)
    if len(fallback):
        grid = (np.arange(POISSON_POINTS) + 0.5) / POISSON_POINTS
        extra_v = np.zeros((n, POISSON_POINTS))
        extra_w = np.zeros((n, POISSON_POINTS))
        for i in fallback:
            mean_risk = level[i] * sum(p * (k + review_period) for k, p in mixes[i])
            extra_v[i] = poisson.ppf(grid, max(mean_risk, 1e-12))
            extra_w[i] = 1.0 / POISSON_POINTS
        values = np.concatenate([values, extra_v], axis=1)
        weights = np.concatenate([weights, extra_w], axis=1)
    return RiskSamples(values=values, weights=weights, empirical=empirical)

