"""The catalogue's seasonal index: what a planner means by "December sells more than September".

The statistical candidates (exponential smoothing, TSB, IMAPA, ADIDA, window average) forecast a flat
level: fitted in October they carry the autumn's level into the November peak, which is why every one
of them under-forecast the fourth quarter. The index scales such a level by how the catalogue's pooled
demand moved a year earlier between the weeks the level stands for and each target week:

    index[k] = (pooled demand around target week k, one season earlier)
               / (mean pooled demand of the ``WINDOW`` weeks before the origin, one season earlier)

and the candidates are multiplied by ``index ** STRENGTH``. Pooling over every SKU of the panel makes
the index stable where one SKU's own year-ago weeks are noise; the global LightGBM model is not
adjusted (it has calendar and year-ago features of its own). Without a full season plus ``WINDOW``
weeks of history, or with fewer than ``MIN_SKUS`` SKUs to pool, the index is 1.

The constants were chosen on the tuning half of the dev products and confirmed on the other half
(docs/forecasting.md, "Seasonality"): ``WINDOW`` 8 or 13, ``SMOOTH`` 0 or 1, ``STRENGTH`` 0.5 or 1,
pooled units or pooled scaled demand, and applying it to the global model too, were compared.
"""

from __future__ import annotations

import numpy as np

from sync.ml.forecasting.panel import Array

SEASON = 52
WINDOW = 8  # weeks before the origin (a season earlier) the flat level is compared with
SMOOTH = 1  # target week +- SMOOTH weeks, averaged: one holiday week does not make the index
STRENGTH = 0.5  # index ** STRENGTH: half-way between no season and the full year-ago ratio
MIN_SKUS = 10


def catalogue_index(y: Array, horizon: int, *, season: int = SEASON, window: int | None = None,
                    smooth: int | None = None, strength: float | None = None) -> Array:
    """Multiplicative index for the ``horizon`` periods after the end of ``y`` (shape ``(n_sku, n_periods)``).

    ``window``, ``smooth`` and ``strength`` default to the module's ``WINDOW``, ``SMOOTH``, ``STRENGTH``.
    """
    window = WINDOW if window is None else window
    smooth = SMOOTH if smooth is None else smooth
    strength = STRENGTH if strength is None else strength
    n_sku, origin = y.shape
    if n_sku < MIN_SKUS or origin - season - window < 0 or strength == 0.0:
        return np.ones(horizon)
    pooled = y.sum(axis=0)
    base = pooled[origin - season - window : origin - season].mean()
    if not np.isfinite(base) or base <= 0:
        return np.ones(horizon)
    index = np.empty(horizon)
    for k in range(horizon):
        target = origin + k - season  # the target week, one season earlier
        lo, hi = max(target - smooth, 0), min(target + smooth + 1, origin)
        index[k] = pooled[lo:hi].mean() / base if hi > lo else 1.0
    return np.clip(index, 0.0, None) ** strength
