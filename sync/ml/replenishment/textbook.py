"""Order economics (EOQ) and the textbook rule the SPEC compares our policy with.

Textbook rule: mean ``mu`` and standard deviation ``sd`` of the last 13 periods;
``s = mu*(L+R) + k*sd*sqrt(L+R)`` and ``S = s + max(mu*R, EOQ)``, with ``k = z(service level)`` as the
textbook has it (a cycle-service z, which under-delivers a fill-rate target on lumpy demand).
"""

from __future__ import annotations

from statistics import NormalDist

import numpy as np
import numpy.typing as npt

from sync.ml.replenishment.params import Array

TEXTBOOK_WINDOW = 13


def eoq(demand_per_period: Array, ordering_cost: Array, unit_cost: Array, holding_cost_rate: Array,
        periods_per_year: float) -> Array:
    """Economic order quantity ``sqrt(2 * annual demand * ordering cost / (holding rate * unit cost))``.

    NaN where it cannot be computed (no unit cost, no ordering cost, or a zero holding cost): callers
    then order for the review period's demand alone.
    """
    annual = np.maximum(np.asarray(demand_per_period, dtype=np.float64), 0.0) * periods_per_year
    holding = np.asarray(holding_cost_rate, dtype=np.float64) * np.asarray(unit_cost, dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        value = np.sqrt(2.0 * annual * np.asarray(ordering_cost, dtype=np.float64) / holding)
    return np.where(np.isfinite(value), value, np.nan)


def textbook_levels(y: Array, *, k: float | Array, lead_time: npt.ArrayLike, review_period: int,
                    order_quantity: Array) -> tuple[Array, Array]:
    """``(s, S)`` of the textbook rule from the last 13 periods of ``y`` (SKUs x periods)."""
    recent = y[:, -TEXTBOOK_WINDOW:]
    mu = recent.mean(axis=1)
    sd = recent.std(axis=1, ddof=1) if recent.shape[1] > 1 else np.zeros(len(y))
    risk = np.asarray(lead_time, dtype=np.float64) + review_period
    s = mu * risk + np.asarray(k) * sd * np.sqrt(risk)
    q = np.where(np.isfinite(order_quantity), np.maximum(mu * review_period, order_quantity), mu * review_period)
    return s, s + q


def textbook_order_quantity(y: Array, ordering_cost: Array, unit_cost: Array, holding_cost_rate: Array,
                            periods_per_year: float) -> Array:
    """The textbook's EOQ, on the same 13-period mean."""
    return eoq(y[:, -TEXTBOOK_WINDOW:].mean(axis=1), ordering_cost, unit_cost, holding_cost_rate, periods_per_year)


def z(service_level: float) -> float:
    return NormalDist().inv_cdf(service_level)
