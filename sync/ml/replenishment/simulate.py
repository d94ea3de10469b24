"""Replay an (R, s, S) policy with lost sales over a demand matrix: the policy's meaning, executed.

The SPEC's meaning, which every consumer uses: a review at the end of every ``review_period``-th
period; when the inventory position (on hand + on order) is then at or below the reorder point ``s``,
order ``S - position``. An order placed at the review that ends period t arrives before the demand
of period t + lead_time + 1. Demand that on-hand stock cannot meet is lost. Each SKU starts with
``start_on_hand`` on hand and nothing on order. All SKUs are stepped together (one numpy operation per
period), so a catalogue of thousands replays in milliseconds.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from sync.errors import ValidationFailed

Array = npt.NDArray[np.float64]


@dataclass(frozen=True)
class Trace:
    """Per SKU and period: stock on hand after arrivals (``start``) and after demand (``end``), units
    served and lost, and the quantity ordered at that period's review (0 when none)."""

    start: Array
    end: Array
    served: Array
    lost: Array
    ordered: Array

    @property
    def orders(self) -> npt.NDArray[np.int64]:
        """Orders placed per SKU."""
        orders: npt.NDArray[np.int64] = (self.ordered > 0).sum(axis=1)
        return orders

    @property
    def stockout_periods(self) -> npt.NDArray[np.int64]:
        """Periods per SKU in which some demand was lost."""
        periods: npt.NDArray[np.int64] = (self.lost > 1e-9).sum(axis=1)
        return periods

    def fill_rate(self) -> float:
        """Units served / units demanded, over all SKUs (1.0 when nothing was demanded)."""
        demanded = float(self.served.sum() + self.lost.sum())
        return float(self.served.sum()) / demanded if demanded > 0 else 1.0

    def sku_fill_rates(self) -> Array:
        demanded = self.served.sum(axis=1) + self.lost.sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(demanded > 0, self.served.sum(axis=1) / np.maximum(demanded, 1e-12), np.nan)

    def stock_units(self) -> Array:
        """Mean stock on hand per SKU over the periods: midpoint of each period's start and end."""
        mean: Array = ((self.start + self.end) / 2.0).mean(axis=1)
        return mean


def _as_matrix(value: npt.ArrayLike, shape: tuple[int, int], name: str) -> Array:
    """Per SKU ``(n,)`` or per SKU and period ``(n, T)`` values as an ``(n, T)`` matrix."""
    array = np.asarray(value, dtype=np.float64)
    if array.ndim == 1 and array.shape[0] == shape[0]:
        array = array[:, None]
    try:
        return np.broadcast_to(array, shape)
    except ValueError as exc:
        raise ValidationFailed(f"{name} must be shaped ({shape[0]},) or {shape}, got {array.shape}",
                               details={"field": name}) from exc


def simulate(demand: Array, reorder_point: Array, order_up_to: Array, lead_time: npt.ArrayLike,
             review_period: int = 1, start_on_hand: Array | None = None) -> Trace:
    """Replay the policy over ``demand`` (SKUs x periods).

    ``reorder_point`` and ``order_up_to`` are per SKU (shape ``(n,)``) or per SKU and period
    (``(n, T)``: the plan in force at each period's review, for re-planning). ``lead_time`` is a whole
    number of periods per SKU (or one for all). ``start_on_hand`` defaults to the first order-up-to level.
    """
    demand = np.asarray(demand, dtype=np.float64)
    if demand.ndim != 2:
        raise ValidationFailed("demand must be a (SKUs x periods) matrix", details={"field": "demand"})
    n, periods = demand.shape
    s_all = _as_matrix(reorder_point, (n, periods), "reorder_point")
    big_s = _as_matrix(order_up_to, (n, periods), "order_up_to")
    lead = np.broadcast_to(np.asarray(lead_time), (n,))
    if np.any(lead < 0) or np.any(lead != np.round(lead)):
        raise ValidationFailed("lead_time must be whole periods >= 0", details={"field": "lead_time"})
    lead = lead.astype(np.int64)
    if review_period < 1:
        raise ValidationFailed("review_period must be >= 1", details={"field": "review_period"})
    on_hand = (big_s[:, 0] if start_on_hand is None else np.asarray(start_on_hand, dtype=np.float64)).copy()
    arrivals = np.zeros((n, periods + int(lead.max(initial=0)) + 2))
    on_order = np.zeros(n)
    rows = np.arange(n)
    start, end, served, lost, ordered = (np.zeros((n, periods)) for _ in range(5))
    for t in range(periods):
        on_hand += arrivals[:, t]
        on_order -= arrivals[:, t]
        start[:, t] = on_hand
        take = np.minimum(on_hand, demand[:, t])
        served[:, t] = take
        lost[:, t] = demand[:, t] - take
        on_hand -= take
        end[:, t] = on_hand
        if t % review_period == review_period - 1:
            position = on_hand + on_order
            quantity = np.where(position <= s_all[:, t] + 1e-9, np.maximum(big_s[:, t] - position, 0.0), 0.0)
            ordered[:, t] = quantity
            on_order += quantity
            arrivals[rows, t + lead + 1] += quantity
    return Trace(start=start, end=end, served=served, lost=lost, ordered=ordered)
