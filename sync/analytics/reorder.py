"""Reorder alerts with a suggested order quantity. Pure function on :func:`sync.analytics.kpis.sku_kpis` rows.

A SKU alerts when its inventory position (available + incoming, so stock already on order is not
ordered twice) is at or below its reorder point. The order brings the position up to:

- the plan's order-up-to level when the latest replenishment plan sets the SKU's levels (``plan.py``),
- else ``max_qty`` when the SKU has one above its reorder point (a min/max policy), otherwise
- reorder point + expected demand over ``cover_days`` (the plan's forecast, or the KPI window's average),

and always at least one unit above the reorder point, so the alert clears once the order is booked.
Quantities are rounded up to whole units.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from sync.analytics.finite import product

ALERT_COLUMNS = (
    "sku", "name", "supplier", "urgency", "on_hand", "reserved", "available", "incoming", "position",
    "reorder_point", "max_qty", "daily_demand", "days_of_supply", "lead_time_days", "order_up_to",
    "suggested_order_qty", "unit_cost", "order_value", "plan_id", "reorder_point_source", "demand_source",
    "order_up_to_source",
)


def reorder_alerts(kpis: pd.DataFrame, *, cover_days: float = 30.0) -> pd.DataFrame:
    """Alerting SKUs, most urgent first (out of stock, then fewest days of supply)."""
    if cover_days < 0:
        raise ValueError("cover_days must not be negative")
    alerting = kpis.loc[kpis["below_reorder_point"]].copy()
    rop = alerting["reorder_point"]
    max_qty = alerting["max_qty"]
    # rounded before the ceiling so 5/30 a day over 30 days is 5 units, not 6 by float error
    cover = np.ceil((alerting["daily_demand"].fillna(0.0) * cover_days).round(9))
    planned = alerting["order_up_to_planned"] if "order_up_to_planned" in alerting else pd.Series(
        np.nan, index=alerting.index)
    by_max = max_qty.notna() & (max_qty > rop)
    target = np.where(planned.notna(), planned, np.where(by_max, max_qty, rop + cover))
    order_up_to = np.maximum(target, np.floor(rop) + 1)
    alerting["order_up_to_source"] = np.where(
        planned.notna(), alerting.get("reorder_point_source", "plan"),
        np.where(by_max, "sku max_qty", f"reorder point + {cover_days:g} days of demand"))
    for column in ("plan_id", "reorder_point_source", "demand_source"):
        if column not in alerting:
            alerting[column] = None
    alerting["order_up_to"] = order_up_to
    alerting["suggested_order_qty"] = np.maximum(np.ceil(order_up_to - alerting["position"]), 1.0)
    alerting["order_value"] = product(alerting["suggested_order_qty"], alerting["unit_cost"].fillna(0.0))
    alerting["urgency"] = np.where(alerting["available"] <= 0, "out_of_stock", "below_reorder_point")
    alerting["_out"] = alerting["urgency"] == "out_of_stock"
    alerting["_dos"] = alerting["days_of_supply"].fillna(np.inf)
    alerting = alerting.sort_values(["_out", "_dos", "sku"], ascending=[False, True, True], kind="stable")
    return alerting.loc[:, list(ALERT_COLUMNS)].reset_index(drop=True)
