"""``simulate_policy``: replay our policy and the textbook rule over a stretch of history (SPEC method).

From ``start`` on, for ``periods`` periods: at every re-plan origin (``start``, ``start + replan_every``,
...) both policies are planned on the history before that origin only; each SKU starts with its first
order-up-to level on hand and nothing on order; the simulation (``simulate.py``) serves the actual
demand with lost sales. Answers, per policy: fill rate (units served / units demanded, all SKUs),
mean stock value on hand per period, orders placed, stockout periods (SKU-periods with lost demand)
and the share of SKUs more than 5 points below their target; and the same per SKU.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from sync.errors import ValidationFailed
from sync.ml.forecasting.panel import Panel, to_panel
from sync.ml.replenishment.params import Array, per_sku
from sync.ml.replenishment.policy import (
    SHORTAGE_FACTOR,
    Forecaster,
    build_plan,
    check_params,
    default_forecaster,
    forecast_matrix,
    risk_horizon,
)
from sync.ml.replenishment.simulate import Trace, simulate
from sync.ml.replenishment.textbook import textbook_levels, textbook_order_quantity, z

FAR_BELOW = 0.05
OURS = "ours"
TEXTBOOK = "textbook"


@dataclass(frozen=True)
class Outcome:
    """What one policy did over the stretch (``per_sku``: one row per SKU)."""

    fill_rate: float
    stock_value: float
    orders: int
    stockout_periods: int
    skus_far_below: float
    per_sku: pd.DataFrame

    def as_dict(self) -> dict[str, Any]:
        return {"fill_rate": self.fill_rate, "stock_value": self.stock_value, "orders": self.orders,
                "stockout_periods": self.stockout_periods, "skus_far_below_target": self.skus_far_below}


@dataclass
class Replay:
    """The stretch to replay and everything both policies need, planned once per origin."""

    panel: Panel
    start: int
    periods: int
    origins: list[int]
    unit_value: Array
    value_known: bool
    lead: npt.NDArray[np.int64]
    review: int
    target: Array
    ordering: Array
    holding: Array
    per_year: float
    plans: list[pd.DataFrame] = field(default_factory=list)
    plan_seconds: list[float] = field(default_factory=list)  # wall time of each plan, forecast included

    @property
    def demand(self) -> Array:
        return self.panel.y[:, self.start : self.start + self.periods]

    def _spread(self, per_origin: list[Array]) -> Array:
        """Per-origin values (SKUs,) as a (SKUs x periods) matrix: each in force until the next origin."""
        out = np.empty((len(self.panel.skus), self.periods))
        for j, origin in enumerate(self.origins):
            end = self.origins[j + 1] if j + 1 < len(self.origins) else self.start + self.periods
            out[:, origin - self.start : end - self.start] = per_origin[j][:, None]
        return out

    def trace_ours(self) -> Trace:
        s = self._spread([p["reorder_point"].to_numpy() for p in self.plans])
        big_s = self._spread([p["order_up_to"].to_numpy() for p in self.plans])
        return simulate(self.demand, s, big_s, self.lead, self.review)

    def textbook(self, k: float | Array | None = None) -> tuple[Array, Array]:
        k = z_array(self.target) if k is None else k
        levels = []
        for origin in self.origins:
            y = self.panel.y[:, :origin]
            q = textbook_order_quantity(y, self.ordering, self.unit_value, self.holding, self.per_year)
            levels.append(textbook_levels(y, k=k, lead_time=self.lead, review_period=self.review, order_quantity=q))
        return self._spread([s for s, _ in levels]), self._spread([big for _, big in levels])

    def trace_textbook(self, k: float | Array | None = None) -> Trace:
        s, big_s = self.textbook(k)
        return simulate(self.demand, s, big_s, self.lead, self.review)

    def outcome(self, trace: Trace, mask: npt.NDArray[np.bool_] | None = None) -> Outcome:
        mask = np.ones(len(self.panel.skus), dtype=bool) if mask is None else mask
        served, lost = trace.served[mask], trace.lost[mask]
        demanded = served.sum(axis=1) + lost.sum(axis=1)
        total = float(demanded.sum())
        fill = float(served.sum()) / total if total > 0 else 1.0
        stock = trace.stock_units()[mask] * self.unit_value[mask]
        sku_fill = trace.sku_fill_rates()[mask]
        counted = demanded > 0
        far = float(np.mean(sku_fill[counted] < self.target[mask][counted] - FAR_BELOW)) if counted.any() else 0.0
        per = pd.DataFrame({
            "sku": self.panel.skus[mask].astype(str), "demand": demanded, "served": served.sum(axis=1),
            "lost": lost.sum(axis=1), "fill_rate": sku_fill, "target": self.target[mask],
            "stock_value": stock, "orders": trace.orders[mask], "stockout_periods": trace.stockout_periods[mask]})
        return Outcome(fill_rate=fill, stock_value=float(stock.sum()), orders=int(trace.orders[mask].sum()),
                       stockout_periods=int(trace.stockout_periods[mask].sum()), skus_far_below=far, per_sku=per)

    def tune_textbook(self, fill_rate: float, mask: npt.NDArray[np.bool_] | None = None,
                      low: float = 0.0, high: float = 12.0, steps: int = 30) -> tuple[float, Outcome]:
        """Bisection on one k for all SKUs until the textbook rule achieves ``fill_rate`` (on ``mask``)."""
        for _ in range(steps):
            mid = (low + high) / 2.0
            if self.outcome(self.trace_textbook(mid), mask).fill_rate < fill_rate:
                low = mid
            else:
                high = mid
        return high, self.outcome(self.trace_textbook(high), mask)


def z_array(target: Array) -> Array:
    return np.array([z(float(t)) for t in target])


def _start_index(panel: Panel, start: Any, periods: int) -> int:
    if start is None:
        index = panel.n_periods - periods
    elif isinstance(start, int | np.integer) and not isinstance(start, bool):
        index = int(start)
    else:
        try:
            stamp = pd.Timestamp(start)
        except (TypeError, ValueError) as exc:
            raise ValidationFailed(f"start {start!r} is not a date", details={"field": "start"}) from exc
        index = int(np.searchsorted(panel.dates.to_numpy(), stamp.to_datetime64()))
    if index < 13 or index + periods > panel.n_periods:
        raise ValidationFailed(
            f"the stretch needs at least 13 periods of history before start and {periods} periods from it; "
            f"history has {panel.n_periods} periods ({panel.dates[0].date()} .. {panel.dates[-1].date()})",
            details={"field": "start"})
    return index


def prepare(
    history: pd.DataFrame, *, start: Any = None, periods: int = 24, replan_every: int = 8,
    service_level: Any = 0.95, lead_time: Any = 2, review_period: int = 1, unit_cost: Any = None,
    ordering_cost: Any = None, holding_cost_rate: Any = 0.25, freq: str = "W-SUN", lead_time_sd: Any = None,
    class_service_levels: Mapping[str, Any] | None = None, forecaster: Forecaster | None = None,
    shortage_factor: float = SHORTAGE_FACTOR, plan_periods: int | None = None,
) -> Replay:
    """Check everything, plan our policy at every origin and return the replay (no simulation yet)."""
    for name, value in (("periods", periods), ("replan_every", replan_every)):
        if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
            raise ValidationFailed(f"{name} must be a whole number >= 1, got {value!r}", details={"field": name})
    plan_periods = int(replan_every) if plan_periods is None else plan_periods
    panel = to_panel(history, freq)
    begin = _start_index(panel, start, int(periods))
    before = panel.head(begin)
    params = check_params(before, service_level=service_level, lead_time=lead_time, review_period=review_period,
                          unit_cost=unit_cost, ordering_cost=ordering_cost, holding_cost_rate=holding_cost_rate,
                          lead_time_sd=lead_time_sd, class_service_levels=class_service_levels)
    lead = params["lead"]
    if np.any(lead != np.round(lead)):
        raise ValidationFailed("lead_time must be whole periods for a simulation", details={"field": "lead_time"})
    unit_value = params["unit"]
    value_known = bool(np.isfinite(unit_value).all())
    unit_value = np.where(np.isfinite(unit_value), unit_value, 1.0)
    ordering = params["ordering"]
    origins = list(range(begin, begin + int(periods), int(replan_every)))
    replay = Replay(panel=panel, start=begin, periods=int(periods), origins=origins, unit_value=unit_value,
                    value_known=value_known, lead=lead.astype(np.int64), review=params["review"],
                    target=params["target"], ordering=ordering, holding=params["holding"],
                    per_year=params["per_year"])
    forecast_fn = forecaster or default_forecaster(freq)
    horizon = risk_horizon(params, plan_periods)
    for origin in origins:
        started = time.perf_counter()
        seen = history_before(history, panel.dates[origin], freq)
        head = panel.head(origin)
        frame = forecast_fn(seen, horizon)
        # planned on the history up to the origin, with the parameters as checked at the start
        replay.plans.append(build_plan(head, forecast_matrix(frame, head.skus, horizon), params, shortage_factor,
                                       "forecast_demand" if forecaster is None else "forecaster", plan_periods))
        replay.plan_seconds.append(time.perf_counter() - started)
    return replay


def history_before(history: pd.DataFrame, date: pd.Timestamp, freq: str) -> pd.DataFrame:
    """The rows whose period (of ``freq``) ends before ``date``, a period end of the panel."""
    ends = pd.to_datetime(history["date"]).dt.to_period(freq).dt.end_time.dt.normalize()
    return history.loc[(ends < date).to_numpy()]


@dataclass(frozen=True)
class SimulationReport:
    start: pd.Timestamp
    periods: int
    origins: list[pd.Timestamp]
    outcomes: dict[str, Outcome]
    textbook_k: float | None
    value_known: bool

    def summary(self) -> pd.DataFrame:
        frame = pd.DataFrame({name: o.as_dict() for name, o in self.outcomes.items()}).T
        frame.index.name = "policy"
        return frame


def simulate_policy(
    history: pd.DataFrame, *, start: Any = None, periods: int = 24, replan_every: int = 8,
    service_level: Any = 0.95, lead_time: Any = 2, review_period: int = 1, unit_cost: Any = None,
    ordering_cost: Any = None, holding_cost_rate: Any = 0.25, freq: str = "W-SUN", lead_time_sd: Any = None,
    class_service_levels: Mapping[str, Any] | None = None, textbook_k: float | None = None,
    forecaster: Forecaster | None = None,
) -> SimulationReport:
    """What-if: our policy and the textbook rule replayed over ``periods`` periods of ``history``.

    ``start`` is a date or period index (default: the last ``periods`` periods); ``textbook_k`` the
    textbook's k (default ``z(service level)``). Other parameters as for ``plan_replenishment``.
    """
    if textbook_k is not None:
        per_sku(textbook_k, np.array(["k"], dtype=object), "textbook_k", "nonnegative")
    replay = prepare(history, start=start, periods=periods, replan_every=replan_every, service_level=service_level,
                     lead_time=lead_time, review_period=review_period, unit_cost=unit_cost,
                     ordering_cost=ordering_cost, holding_cost_rate=holding_cost_rate, freq=freq,
                     lead_time_sd=lead_time_sd, class_service_levels=class_service_levels, forecaster=forecaster)
    outcomes = {OURS: replay.outcome(replay.trace_ours()), TEXTBOOK: replay.outcome(replay.trace_textbook(textbook_k))}
    dates = replay.panel.dates
    return SimulationReport(start=dates[replay.start], periods=replay.periods,
                            origins=[dates[o] for o in replay.origins], outcomes=outcomes,
                            textbook_k=textbook_k, value_known=replay.value_known)
