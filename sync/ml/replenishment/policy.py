"""``plan_replenishment``: a reorder point and order-up-to level per SKU for a target fill rate.

Per SKU (every step vectorised over SKUs):

1. level: the forecast's mean demand per period over the risk period (lead time + review period);
2. risk-period demand: a weighted sample (``risk.py``), shaped by the SKU's own history, scaled to
   that level, mixed over the lead time's distribution when it is uncertain;
3. order quantity ``Q = max(level * R, EOQ)`` (EOQ from ordering cost, unit cost and holding rate;
   ``level * R`` alone when either cost is unknown);
4. reorder point ``s``: the smallest stock whose expected shortage per replenishment cycle,
   ``ESC(s) = E[(X - s)+] * SHORTAGE_FACTOR`` over the risk-period demand X, keeps the cycle's fill
   rate ``Q / (Q + ESC(s))`` (lost sales: served / (served + lost)) at or above the target;
   ``S = s + Q``. The textbook's ``mu*(L+R) + z*sd*sqrt(L+R)`` sets a *cycle service* level; with lumpy
   demand and a fill-rate target it under-delivers (SPEC), which this step replaces.

``SHORTAGE_FACTOR`` corrects the cycle approximation (the undershoot of the reorder point at a
periodic review, shortage in consecutive cycles); it was chosen on the tuning half of the dev products
only (docs/replenishment.md).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from sync.errors import ValidationFailed
from sync.ml.forecasting.ensemble import segment
from sync.ml.forecasting.panel import Panel, to_panel
from sync.ml.replenishment.params import Array, ClassLevels, per_sku, periods_per_year, whole_periods
from sync.ml.replenishment.risk import HISTORY_WINDOW, RiskSamples, risk_samples
from sync.ml.replenishment.textbook import eoq

Forecaster = Callable[[pd.DataFrame, int], pd.DataFrame]
SHORTAGE_FACTOR = 5.0
SEGMENTS = np.array(["smooth", "erratic", "intermittent", "lumpy"], dtype=object)
ABC_CUTS = (0.80, 0.95)
XYZ_CUTS = (0.5, 1.0)
RULE = "fill-rate (R, s, S): smallest s with Q / (Q + E[(X - s)+]) >= target; S = s + Q"


def default_forecaster(freq: str) -> Forecaster:
    """``forecast_demand`` at ``freq`` (its mean forecast is the plan's level)."""
    from sync.ml.forecasting import forecast_demand

    def forecast(history: pd.DataFrame, horizon: int) -> pd.DataFrame:
        return forecast_demand(history, horizon, freq=freq, quantiles=(0.9,))

    return forecast


def reorder_point_for(samples: RiskSamples, quantity: Array, target: Array,
                      shortage_factor: float | Array = SHORTAGE_FACTOR) -> tuple[Array, Array]:
    """Smallest ``s`` with ``Q / (Q + factor * E[(X - s)+]) >= target``; and that fill rate at ``s``."""
    allowed = quantity * (1.0 - target) / target / shortage_factor
    low = np.zeros(len(quantity))
    high = samples.values.max(axis=1, initial=0.0) + 1.0
    for _ in range(50):
        mid = (low + high) / 2.0
        ok = samples.shortage(mid) <= allowed
        high = np.where(ok, mid, high)
        low = np.where(ok, low, mid)
    s = np.ceil(high - 1e-9)
    s = np.where(samples.shortage(np.zeros(len(s))) <= allowed, 0.0, s)
    esc = samples.shortage(s) * shortage_factor
    with np.errstate(invalid="ignore", divide="ignore"):
        fill = np.where(quantity + esc > 0, quantity / (quantity + esc), 1.0)
    return s, fill


def classify(y: Array, unit_cost: Array, window: int = HISTORY_WINDOW) -> npt.NDArray[np.object_]:
    """ABC by value (units x unit cost, units when the cost is unknown) and XYZ by the CV of demand."""
    recent = y[:, -window:]
    units = recent.sum(axis=1)
    value = np.where(np.isfinite(unit_cost), units * np.nan_to_num(unit_cost), units)
    order = np.argsort(-value, kind="stable")
    total = value.sum()
    share = np.cumsum(value[order]) / total if total > 0 else np.ones(len(value))
    before = np.concatenate([[0.0], share[:-1]])
    abc_sorted = np.where(before < ABC_CUTS[0], "A", np.where(before < ABC_CUTS[1], "B", "C"))
    abc = np.empty(len(value), dtype=object)
    abc[order] = abc_sorted
    mean = recent.mean(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        cv = np.where(mean > 0, recent.std(axis=1) / np.where(mean > 0, mean, 1.0), np.inf)
    xyz = np.where(cv <= XYZ_CUTS[0], "X", np.where(cv <= XYZ_CUTS[1], "Y", "Z"))
    return np.array([a + x for a, x in zip(abc, xyz, strict=True)], dtype=object)


def _mean_price(panel: Panel) -> Array:
    if panel.price is None:
        return np.full(len(panel.skus), np.nan)
    sold = panel.y > 0
    with np.errstate(invalid="ignore"):
        mean = np.where(sold.any(axis=1),
                        (np.where(sold, panel.price, 0.0)).sum(axis=1) / np.maximum(sold.sum(axis=1), 1), np.nan)
    return np.where(np.isfinite(mean) & (mean > 0), mean, np.nan)


def forecast_matrix(frame: pd.DataFrame, skus: npt.NDArray[np.object_], horizon: int) -> Array:
    missing = {"sku", "date", "forecast"} - set(frame.columns)
    if missing:
        raise ValidationFailed(f"the forecaster's answer lacks columns {sorted(missing)}")
    wide = frame.pivot(index="sku", columns="date", values="forecast").sort_index(axis=1)
    wide.index = wide.index.astype(str)
    values = wide.reindex(index=[str(s) for s in skus]).to_numpy(dtype=np.float64)[:, :horizon]
    matrix: Array = np.maximum(np.nan_to_num(values, nan=0.0), 0.0)
    return matrix


def check_params(panel: Panel, *, service_level: Any, lead_time: Any, review_period: Any, unit_cost: Any,
                 ordering_cost: Any, holding_cost_rate: Any, lead_time_sd: Any,
                 class_service_levels: Mapping[str, Any] | None) -> dict[str, Any]:
    skus = panel.skus
    review = whole_periods(review_period, "review_period")
    price = _mean_price(panel)
    unit = price if unit_cost is None else per_sku(unit_cost, skus, "unit_cost", "nonnegative", fallback=price)
    unit = np.where(unit > 0, unit, np.nan)  # a zero cost is an unknown one: no EOQ from it
    ordering = (np.full(len(skus), np.nan) if ordering_cost is None
                else per_sku(ordering_cost, skus, "ordering_cost", "nonnegative"))
    lead = per_sku(lead_time, skus, "lead_time", "nonnegative", fallback=np.full(len(skus), 2.0)
                   if isinstance(lead_time, Mapping) else None)
    lead_sd = (np.zeros(len(skus)) if lead_time_sd is None
               else per_sku(lead_time_sd, skus, "lead_time_sd", "nonnegative", fallback=np.zeros(len(skus))))
    holding = per_sku(holding_cost_rate, skus, "holding_cost_rate", "positive", fallback=np.full(len(skus), 0.25))
    levels = ClassLevels.parse(class_service_levels)
    base_level = per_sku(service_level, skus, "service_level", "unit", fallback=np.full(len(skus), 0.95))
    classes = classify(panel.y, unit)
    target = base_level if levels is None else levels.apply(classes, base_level)
    return {"review": review, "unit": unit, "ordering": ordering, "lead": lead, "lead_sd": lead_sd,
            "holding": holding, "target": target, "classes": classes,
            "per_year": periods_per_year(panel.freq), "class_levels": levels is not None}


def risk_horizon(params: Mapping[str, Any], plan_periods: int = 1) -> int:
    """Periods of forecast a plan needs: the last review it is in force for, plus that review's risk period."""
    return int(np.ceil(np.max(params["lead"], initial=0.0))) + int(params["review"]) + plan_periods - 1


def risk_level(forecast: Array, risk_len: npt.NDArray[np.int64], plan_periods: int) -> Array:
    """Forecast demand per period over the risk period, the highest among the reviews the plan serves.

    The plan in force for ``plan_periods`` periods must protect the risk period of each review in it:
    the one starting now and those starting up to ``plan_periods - 1`` periods later (as far as the
    forecast reaches), so a rising forecast (a season ahead) is met before the next plan.
    """
    n, horizon = forecast.shape
    cums = np.concatenate([np.zeros((n, 1)), np.cumsum(forecast, axis=1)], axis=1)
    best = np.zeros(n)
    for offset in range(max(plan_periods, 1)):
        end = offset + risk_len
        fits = end <= horizon
        if offset > 0 and not fits.any():
            break
        end = np.minimum(end, horizon)
        total = cums[np.arange(n), end] - cums[:, offset]
        best = np.where(fits | (offset == 0), np.maximum(best, total / np.maximum(end - offset, 1)), best)
    return best


def build_plan(panel: Panel, forecast: Array, params: dict[str, Any], shortage_factor: float,
          demand_source: str, plan_periods: int = 1) -> pd.DataFrame:
    review = params["review"]
    lead, lead_sd = params["lead"], params["lead_sd"]
    n = len(panel.skus)
    risk_len = np.ceil(lead).astype(np.int64) + review
    if forecast.shape[1] < int(risk_len.max(initial=0)):
        raise ValidationFailed("the forecast is shorter than the risk period (lead time + review period)")
    level = risk_level(forecast, risk_len, plan_periods)
    samples = risk_samples(panel.y, level, lead, lead_sd, review)
    expected = samples.mean()
    economic = eoq(level, params["ordering"], params["unit"], params["holding"], params["per_year"])
    quantity = np.where(np.isfinite(economic), np.maximum(level * review, economic), level * review)
    seg = segment(panel.y)
    factor = (np.array([shortage_factor[str(name)] for name in SEGMENTS[seg]])
              if isinstance(shortage_factor, Mapping) else np.full(n, float(shortage_factor)))
    s, fill = reorder_point_for(samples, quantity, params["target"], factor)
    big_s = np.maximum(np.ceil(s + quantity - 1e-9), 0.0)
    distribution = np.where(
        samples.empirical,
        f"empirical: risk-period totals of the last {HISTORY_WINDOW} periods, scaled to the forecast",
        "poisson: too little history, quantiles of Poisson(forecast over the risk period)")
    has_eoq = np.isfinite(economic)
    return pd.DataFrame({
        "sku": panel.skus.astype(str),
        "reorder_point": s,
        "order_up_to": big_s,
        "safety_stock": s - expected,
        "order_quantity": big_s - s,
        "risk_period_demand": expected,
        "risk_period_sd": samples.sd(),
        "demand_per_period": level,
        "service_level": params["target"],
        "expected_fill_rate": fill,
        "lead_time": lead,
        "lead_time_sd": lead_sd,
        "review_period": np.full(n, review),
        "unit_cost": params["unit"],
        "eoq": economic,
        "abc_xyz": params["classes"],
        "segment": SEGMENTS[seg],
        "demand_source": np.full(n, demand_source, dtype=object),
        "distribution_source": distribution,
        "quantity_source": np.where(has_eoq & (economic > level * review), "EOQ",
                                    np.where(has_eoq, "demand per review period (above EOQ)",
                                             "demand per review period (no unit or ordering cost for EOQ)")),
        "rule": np.full(n, RULE, dtype=object),
    })


def plan_replenishment(
    history: pd.DataFrame, *, service_level: Any = 0.95, lead_time: Any = 2, review_period: int = 1,
    unit_cost: Any = None, ordering_cost: Any = None, holding_cost_rate: Any = 0.25, freq: str = "W-SUN",
    lead_time_sd: Any = None, class_service_levels: Mapping[str, Any] | None = None,
    plan_periods: int = 1, forecaster: Forecaster | None = None,
) -> pd.DataFrame:
    """Reorder point and order-up-to level per SKU for a target fill rate (module docstring; SPEC).

    Parameters
    ----------
    history : long frame ``sku``, ``date``, ``quantity`` (optional ``price``, ``promotion``, ``orders``).
    service_level : target fill rate in (0, 1), one for all or ``{sku: level}``.
    lead_time, lead_time_sd : periods (may be fractional), a number or ``{sku: value}``.
    review_period : whole periods between reviews.
    unit_cost : value of one unit (default: the SKU's mean sale price when history has ``price``).
    ordering_cost : cost per order; with ``unit_cost`` it gives the EOQ.
    holding_cost_rate : per year, of the unit's value.
    class_service_levels : targets per ABC or ABC-XYZ class, e.g. ``{"A": 0.98, "B": 0.95, "C": 0.90}``.
    plan_periods : periods the plan stays in force (until the next plan): it protects every review in
        them, so a plan made once for 8 weeks stocks for the highest risk-period forecast among them.
    forecaster : ``f(history, horizon) -> frame`` (sku, date, forecast); default ``forecast_demand``.

    Returns one row per SKU (columns in docs/replenishment.md). Bad input raises ``ValidationFailed``
    (a ``ValueError``) naming the parameter.
    """
    panel = to_panel(history, freq)
    params = check_params(panel, service_level=service_level, lead_time=lead_time, review_period=review_period,
                          unit_cost=unit_cost, ordering_cost=ordering_cost, holding_cost_rate=holding_cost_rate,
                          lead_time_sd=lead_time_sd, class_service_levels=class_service_levels)
    life = whole_periods(plan_periods, "plan_periods")
    horizon = risk_horizon(params, life)
    frame = (forecaster or default_forecaster(freq))(history, horizon)
    forecast = forecast_matrix(frame, panel.skus, horizon)
    source = "forecast_demand" if forecaster is None else getattr(forecaster, "__name__", "forecaster")
    return build_plan(panel, forecast, params, SHORTAGE_FACTOR, source, life)


__all__: Sequence[str] = ("build_plan", "classify", "plan_replenishment", "reorder_point_for")
