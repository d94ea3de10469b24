"""Purchase-order proposals from a plan: pure (plan rows + inventory positions + suppliers -> order lines).

The policy's meaning applied once, at a review: a SKU whose inventory position (on hand + on order)
is at or below its reorder point gets a line for ``order_up_to - position`` units (rounded up to whole
units). Each line carries its reason: the position, the reorder point and order-up-to level, the
forecast demand over the risk period and the fill rate expected over that period *without* the
order. That last figure treats risk-period demand as a gamma with the plan's mean
(``risk_period_demand``) and standard deviation (``risk_period_sd``): served share
``E[min(X, position)] / E[X]``. Nothing here does I/O, so it can be wired to purchase orders later.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import gamma

from sync.errors import ValidationFailed

PLAN_COLUMNS = ("sku", "reorder_point", "order_up_to", "risk_period_demand", "risk_period_sd")
LINE_COLUMNS = ("sku", "supplier", "quantity", "position", "reorder_point", "order_up_to", "risk_period_demand",
                "fill_rate_without_order", "reason")


def fill_without_order(position: float, mean: float, sd: float) -> float:
    """Expected share of risk-period demand served from ``position`` units (gamma demand, lost sales)."""
    if mean <= 0:
        return 1.0
    stock = max(position, 0.0)
    if sd <= 0:
        return min(stock, mean) / mean
    shape, scale = (mean / sd) ** 2, sd**2 / mean
    # E[(X - p)+] for a gamma: mean * P(X_{shape+1} > p) - p * P(X_shape > p)
    short = mean * gamma.sf(stock, shape + 1, scale=scale) - stock * gamma.sf(stock, shape, scale=scale)
    return float(min(max(1.0 - max(short, 0.0) / mean, 0.0), 1.0))


def _number(value: Any, field: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating) or not math.isfinite(
            float(value)):
        raise ValidationFailed(f"{field} must be a finite number, got {value!r}", details={"field": field})
    return float(value)


def propose_orders(plan: pd.DataFrame, positions: Mapping[str, Any],
                   suppliers: Mapping[str, str | None] | None = None) -> pd.DataFrame:
    """Order lines for the SKUs of ``plan`` at or below their reorder point (module docstring).

    ``positions``: ``{sku: on hand + on order}`` for SKUs of the plan (absent SKUs have position 0:
    nothing on hand, nothing on order). ``suppliers``: ``{sku: supplier}``, optional. A SKU in either
    mapping that the plan does not have is refused (``ValidationFailed`` naming the mapping).
    """
    if not isinstance(plan, pd.DataFrame):
        raise ValidationFailed("plan must be a DataFrame from plan_replenishment", details={"field": "plan"})
    missing = [c for c in PLAN_COLUMNS if c not in plan.columns]
    if missing:
        raise ValidationFailed(f"plan lacks columns {missing}", details={"field": "plan", "missing": missing})
    known = set(plan["sku"].astype(str))
    for name, mapping in (("positions", positions), ("suppliers", suppliers or {})):
        if not isinstance(mapping, Mapping):
            raise ValidationFailed(f"{name} must be a mapping of SKU to value", details={"field": name})
        unknown = sorted(str(k) for k in mapping if str(k) not in known)
        if unknown:
            raise ValidationFailed(f"{name} names SKUs not in the plan: {unknown[:5]}",
                                   details={"field": name, "unknown_skus": unknown[:20]})
    position_of = {str(k): _number(v, f"positions[{k!r}]") for k, v in positions.items()}
    supplier_of = {str(k): v for k, v in (suppliers or {}).items()}
    lines = []
    for row in plan.itertuples(index=False):
        sku = str(row.sku)
        position = position_of.get(sku, 0.0)
        if position > row.reorder_point + 1e-9:
            continue
        quantity = math.ceil(row.order_up_to - position - 1e-9)
        if quantity <= 0:
            continue
        fill = fill_without_order(position, float(row.risk_period_demand), float(row.risk_period_sd))
        lines.append({
            "sku": sku, "supplier": supplier_of.get(sku), "quantity": quantity, "position": position,
            "reorder_point": float(row.reorder_point), "order_up_to": float(row.order_up_to),
            "risk_period_demand": float(row.risk_period_demand), "fill_rate_without_order": fill,
            "reason": (f"position {position:g} <= reorder point {row.reorder_point:g}: order up to "
                       f"{row.order_up_to:g}; forecast over the risk period {row.risk_period_demand:.1f}, "
                       f"expected fill rate without this order {fill:.2f}"),
        })
    frame = pd.DataFrame(lines, columns=list(LINE_COLUMNS))
    if frame.empty:
        return frame
    order = frame["supplier"].fillna("").astype(str)
    return frame.assign(_s=order).sort_values(["_s", "sku"]).drop(columns="_s").reset_index(drop=True)
