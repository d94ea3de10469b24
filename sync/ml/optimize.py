"""Inventory figures from model estimates: EOQ, safety stock, reorder point and price.

Units: demand is per period (``period_days`` long, 7 by default), lead time in days, ``holding_cost``
per unit per year, ``ordering_cost`` per order. With d and sd_d the demand per period and its
uncertainty, L and sd_L the lead time and its uncertainty in periods, z the normal quantile of the
service level:

* EOQ = sqrt(2 * D * ordering_cost / holding_cost), D = d * 365 / period_days (annual demand);
* safety stock = safety_stock_multiplier * z * sqrt(L * sd_d^2 + d^2 * sd_L^2);
* reorder point = d * L + safety stock.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from numbers import Real
from statistics import NormalDist
from typing import Any

from sync.errors import ValidationFailed

DEFAULT_SERVICE_LEVEL = 0.95
DEFAULT_PERIOD_DAYS = 7.0
DEFAULT_LEAD_TIME_DAYS = 7.0
#: used only when neither a model nor sku_data gives an uncertainty (coefficient of variation)
DEFAULT_DEMAND_CV = 0.25
DEFAULT_LEAD_TIME_CV = 0.2


@dataclass(frozen=True)
class Estimate:
    """A figure, its standard deviation, and where it came from (``model:<name>@<version>`` or a fallback)."""

    value: float
    sd: float | None
    source: str


def number(sku_data: Mapping[str, Any], key: str, default: float | None = None, *,
           minimum: float | None = None, positive: bool = False) -> float | None:
    """``sku_data[key]`` as a float (or ``default`` when absent), refused with its name when invalid."""
    if key not in sku_data or sku_data[key] is None:
        return default
    value = sku_data[key]
    if isinstance(value, bool) or not isinstance(value, Real) or not math.isfinite(float(value)):
        raise ValidationFailed(f"sku_data[{key!r}] must be a finite number", details={"field": key})
    value = float(value)
    if positive and value <= 0:
        raise ValidationFailed(f"sku_data[{key!r}] must be > 0, got {value}", details={"field": key})
    if minimum is not None and value < minimum:
        raise ValidationFailed(f"sku_data[{key!r}] must be >= {minimum}, got {value}", details={"field": key})
    return value


def required(sku_data: Mapping[str, Any], key: str) -> float:
    value = number(sku_data, key, positive=True)
    if value is None:
        raise ValidationFailed(f"sku_data lacks {key!r} (needed for the order quantity)", details={"missing": [key]})
    return value


def inventory_figures(sku_data: Mapping[str, Any], demand: Estimate, lead_time: Estimate,
                      price: Estimate) -> dict[str, Any]:
    """The optimisation result: figures, the inputs they used, and each figure's source."""
    ordering_cost = required(sku_data, "ordering_cost")
    holding_cost = required(sku_data, "holding_cost")
    service_level = number(sku_data, "service_level", DEFAULT_SERVICE_LEVEL)
    assert service_level is not None
    if not 0.5 <= service_level < 1:
        raise ValidationFailed("sku_data['service_level'] must be in [0.5, 1)", details={"field": "service_level"})
    multiplier = number(sku_data, "safety_stock_multiplier", 1.0, minimum=0.0)
    period_days = number(sku_data, "period_days", DEFAULT_PERIOD_DAYS, positive=True)
    assert multiplier is not None and period_days is not None

    d = max(0.0, demand.value)
    sd_d = demand.sd if demand.sd is not None else DEFAULT_DEMAND_CV * d
    lead_days = max(0.0, lead_time.value)
    sd_lead_days = lead_time.sd if lead_time.sd is not None else DEFAULT_LEAD_TIME_CV * lead_days
    L, sd_L = lead_days / period_days, sd_lead_days / period_days
    z = NormalDist().inv_cdf(service_level)
    safety_stock = multiplier * z * math.sqrt(L * sd_d**2 + d**2 * sd_L**2)
    annual_demand = d * 365.0 / period_days
    eoq = math.sqrt(2 * annual_demand * ordering_cost / holding_cost)
    return {
        "predicted_demand": d,
        "predicted_lead_time": lead_days,
        "optimal_price": price.value,
        "optimal_quantity": eoq,
        "safety_stock": safety_stock,
        "reorder_point": d * L + safety_stock,
        "demand_std": sd_d,
        "lead_time_std": sd_lead_days,
        "service_level": service_level,
        "z": z,
        "annual_demand": annual_demand,
        "units": {"demand": f"units per {period_days:g}-day period", "lead_time": "days",
                  "holding_cost": "per unit per year"},
        "sources": {
            "predicted_demand": demand.source,
            "predicted_lead_time": lead_time.source,
            "optimal_price": price.source,
            "demand_std": demand.source if demand.sd is not None else f"default: {DEFAULT_DEMAND_CV:g} x demand",
            "lead_time_std": (lead_time.source if lead_time.sd is not None
                              else f"default: {DEFAULT_LEAD_TIME_CV:g} x lead time"),
            "optimal_quantity": "eoq(predicted_demand, ordering_cost, holding_cost)",
            "safety_stock": "z(service_level) * sqrt(L*sd_d^2 + d^2*sd_L^2) * safety_stock_multiplier",
            "reorder_point": "predicted_demand * lead_time + safety_stock",
        },
    }
