"""Per-SKU inventory KPIs and the summary behind ``GET /metrics``. Pure functions on frames.

Definitions (also in docs/analytics.md), over a window of ``window_days`` ending at ``as_of``:

- demand = units shipped - units returned in the window (net consumption; adjustments are not demand);
- cogs = demand x unit cost; average inventory = time-weighted on-hand over the window;
- turnover = demand / average on-hand (per SKU; in value for the summary), annualised x 365/window;
- days of supply = on-hand at ``as_of`` / (demand per day); unset when there was no demand;
- stockout: on-hand at ``as_of`` <= 0; below reorder point: inventory position (available + incoming)
  <= reorder point, for SKUs that have one;
- dead stock: on-hand > 0 and no demand in the window; slow stock: on-hand > 0 and days of supply over
  ``slow_days``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from sync.analytics.finite import product, ratio, saturate, total
from sync.analytics.timeline import stock_over_window

KPI_COLUMNS = (
    "sku", "name", "unit_cost", "price", "on_hand", "reserved", "available", "incoming", "position",
    "reorder_point", "max_qty", "lead_time_days", "supplier", "stock_value", "units_shipped",
    "units_returned", "demand", "cogs", "avg_on_hand", "turnover", "annual_turnover", "days_of_supply",
    "daily_demand", "in_stock_share", "last_shipment_at", "stockout", "below_reorder_point",
    "movement_class",
)


def window_bounds(as_of: pd.Timestamp, window_days: int) -> tuple[pd.Timestamp, pd.Timestamp]:
    """``(start, end)`` of a window of ``window_days`` ending at ``as_of`` (UTC)."""
    end = as_of.tz_convert("UTC") if as_of.tzinfo else as_of.tz_localize("UTC")
    return end - pd.Timedelta(days=window_days), end


def _safe_ratio(num: pd.Series, den: pd.Series) -> pd.Series:
    """``num / den`` where ``den > 0``, NaN elsewhere (no division warnings, no infinities)."""
    den_ok = den.where(den > 0)
    return ratio(num, den_ok)


def sku_kpis(skus: pd.DataFrame, levels: pd.DataFrame, movements: pd.DataFrame, *, as_of: pd.Timestamp,
             window_days: int, slow_days: float = 180.0) -> pd.DataFrame:
    """One row per SKU (every SKU in ``skus``) with the KPIs listed in :data:`KPI_COLUMNS`.

    ``movements`` must contain every ledger row created after the window's start (later rows roll
    the current levels back to ``as_of``). ``reserved`` and ``incoming`` are the current values (the
    ledger does not record them over time); ``available`` is on-hand at ``as_of`` minus reserved.
    """
    if window_days <= 0:
        raise ValueError("window_days must be positive")
    start, end = window_bounds(as_of, window_days)
    by_sku = levels.groupby("sku")[["on_hand", "reserved", "available", "incoming"]].sum()
    index = pd.Index(skus["sku"], name="sku")
    current = by_sku.reindex(index, fill_value=0.0)

    moves = movements.loc[movements["sku"].isin(index)]
    created = skus.set_index("sku")["created_at"]
    stock = stock_over_window(current["on_hand"], moves, start, end, created).reindex(index)
    window = moves.loc[(moves["created_at"] > start) & (moves["created_at"] <= end)]
    shipments = window.loc[window["type"] == "shipment"]
    shipped = (-shipments.groupby("sku")["quantity"].sum()).reindex(index, fill_value=0.0)
    returned = window.loc[window["type"] == "return"].groupby("sku")["quantity"].sum()
    returned = returned.reindex(index, fill_value=0.0)
    last_shipment = shipments.groupby("sku")["created_at"].max().reindex(index)

    out = skus.set_index("sku")[["name", "unit_cost", "price", "reorder_point", "max_qty",
                                 "lead_time_days", "supplier"]].copy()
    unit_cost = out["unit_cost"].fillna(0.0)
    on_hand = stock["closing"]
    out["on_hand"] = on_hand
    out["reserved"] = current["reserved"]
    out["available"] = on_hand - current["reserved"]  # equals the level's own figure when as_of is now
    out["incoming"] = current["incoming"]
    out["position"] = out["available"] + current["incoming"]
    out["stock_value"] = product(on_hand.clip(lower=0.0), unit_cost)
    out["units_shipped"] = shipped
    out["units_returned"] = returned
    demand = (shipped - returned).clip(lower=0.0)
    out["demand"] = demand
    out["cogs"] = product(demand, unit_cost)
    out["avg_on_hand"] = stock["avg_on_hand"]
    out["turnover"] = _safe_ratio(demand, stock["avg_on_hand"])
    out["annual_turnover"] = out["turnover"] * 365.0 / window_days
    daily = demand / window_days
    out["daily_demand"] = daily
    out["days_of_supply"] = _safe_ratio(on_hand.clip(lower=0.0), daily)
    out["in_stock_share"] = stock["in_stock_share"].clip(0.0, 1.0)  # float sums of durations may pass 1
    out["last_shipment_at"] = last_shipment
    out["stockout"] = on_hand <= 0
    out["below_reorder_point"] = out["reorder_point"].notna() & (out["position"] <= out["reorder_point"])
    has_stock = on_hand > 0
    dead = has_stock & (demand <= 0)
    slow = has_stock & ~dead & (out["days_of_supply"] > slow_days)
    out["movement_class"] = np.select([~has_stock, dead, slow], ["out_of_stock", "dead", "slow"], "active")
    floats = out.select_dtypes("float64").columns
    out[floats] = saturate(out[floats])  # values past the float range are reported as the largest double
    return out.reset_index().loc[:, list(KPI_COLUMNS)]


def _mean(values: pd.Series) -> float | None:
    """Mean of the defined values; ``None`` when there are none."""
    defined = values.dropna()
    return float(defined.mean()) if len(defined) else None


def _ratio(num: float, den: float) -> float | None:
    return float(ratio(num, den)) if den > 0 else None


def summarize(kpis: pd.DataFrame, *, window_days: int) -> dict[str, Any]:
    """Company-level KPIs from :func:`sku_kpis` rows. Ratios are ``None`` when undefined."""
    unit_cost = kpis["unit_cost"].fillna(0.0)
    avg_value = total(product(kpis["avg_on_hand"], unit_cost))
    stock_value = total(kpis["stock_value"])
    cogs = total(kpis["cogs"])
    shipped = total(kpis["units_shipped"])
    turnover = _ratio(cogs, avg_value)
    dead = kpis["movement_class"] == "dead"
    slow = kpis["movement_class"] == "slow"
    return {
        "sku_count": len(kpis),
        "units_on_hand": total(kpis["on_hand"]),
        "units_reserved": total(kpis["reserved"]),
        "units_available": total(kpis["available"]),
        "units_incoming": total(kpis["incoming"]),
        "stock_value_at_cost": stock_value,
        "stock_value_at_price": total(product(kpis["on_hand"].clip(lower=0.0), kpis["price"].fillna(0.0))),
        "stockouts": int(kpis["stockout"].sum()),
        "below_reorder_point": int(kpis["below_reorder_point"].sum()),
        "units_shipped": shipped,
        "units_returned": total(kpis["units_returned"]),
        "return_rate": _ratio(total(kpis["units_returned"]), shipped),
        "cogs": cogs,
        "average_inventory_value": avg_value,
        "inventory_turnover": turnover,
        "annual_inventory_turnover": float(ratio(turnover * 365.0, window_days)) if turnover is not None else None,
        "days_of_supply": _ratio(stock_value, cogs / window_days),
        "in_stock_rate": _mean(kpis["in_stock_share"]),
        "dead_stock": {"sku_count": int(dead.sum()), "value": total(kpis.loc[dead, "stock_value"])},
        "slow_stock": {"sku_count": int(slow.sum()), "value": total(kpis.loc[slow, "stock_value"])},
    }


def stock_value_by_location(skus: pd.DataFrame, levels: pd.DataFrame) -> pd.DataFrame:
    """Per location: SKUs in stock, units and value at cost and price (negative on-hand counts 0)."""
    prices = skus.set_index("sku")[["unit_cost", "price"]].fillna(0.0)
    rows = levels.join(prices, on="sku")
    units = rows["on_hand"].clip(lower=0.0)
    rows = rows.assign(units=units, at_cost=product(units, rows["unit_cost"].fillna(0.0)),
                       at_price=product(units, rows["price"].fillna(0.0)), in_stock=units > 0)
    out = rows.groupby("location").agg(sku_count=("in_stock", "sum"), units_on_hand=("units", "sum"),
                                       stock_value_at_cost=("at_cost", "sum"),
                                       stock_value_at_price=("at_price", "sum"))
    out["sku_count"] = out["sku_count"].astype(int)
    values = ["stock_value_at_cost", "stock_value_at_price"]
    out[values] = saturate(out[values])
    return out.sort_values(["stock_value_at_cost"], ascending=False, kind="stable").reset_index()
