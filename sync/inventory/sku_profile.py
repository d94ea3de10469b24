"""Plausible SKU master data for SKUs first seen in an import (the sales files carry none).

Documented derivations (docs/inventory.md):

* ``name``: the SKU's most frequent description; ``unit``: ``each``.
* ``price``: the median unit price of the SKU's sale lines (0 when it has none).
* ``unit_cost``: 60% of that price. The data has no costs; 40% is a typical gross margin for a
  gift and homeware retailer, and only the ratio matters to the analytics.
* ``lead_time_days``: 14 for SKUs sold in at least half of the weeks of the file (steady sellers,
  assumed restocked from a regular supplier), 28 for the rest. The data has no supplier or lead times.
* ``reorder_point``: demand over the lead time plus safety stock for a 95% service level,
  ``mu_d * L + 1.65 * sigma_d * sqrt(L)``, from the SKU's weekly net shipments (zeros included) scaled
  to days; ``min_qty`` equals it; ``max_qty`` adds four weeks of mean demand.
* ``supplier``: none (unknown).
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd

SAFETY_Z = 1.65
COST_RATIO = 0.6


def _weekly_stats(moves: pd.DataFrame, codes: list[str]) -> pd.DataFrame:
    """Per SKU: mean and std of weekly net shipments over every week of the file, and weeks sold."""
    weeks = moves["created_at"].dt.tz_localize(None).dt.to_period("W-SUN")
    n_weeks = max(1, int((weeks.max() - weeks.min()).n) + 1)
    sales = moves["type"].isin(["shipment", "return"]) & moves["sku"].isin(codes)
    weekly = (-moves.loc[sales, "delta"]).groupby([moves.loc[sales, "sku"], weeks[sales]]).sum().clip(lower=0)
    grouped = weekly.groupby(level=0)
    total, sq, sold = grouped.sum(), (weekly**2).groupby(level=0).sum(), (weekly > 0).groupby(level=0).sum()
    mean = total / n_weeks
    var = (sq / n_weeks - mean**2).clip(lower=0)
    stats = pd.DataFrame({"mean": mean, "std": np.sqrt(var), "sold_weeks": sold}).reindex(codes).fillna(0)
    stats["n_weeks"] = n_weeks
    return stats


def profiles(moves: pd.DataFrame, codes: list[str]) -> list[dict[str, Any]]:
    """Master-data rows for ``codes`` from the imported movement frame."""
    if not codes:
        return []
    subset = moves[moves["sku"].isin(codes)]
    stats = _weekly_stats(moves, codes)
    named = subset.dropna(subset=["name"])
    names = named.groupby(["sku", "name"]).size().sort_values(ascending=False).reset_index().drop_duplicates("sku")
    names = names.set_index("sku")["name"]
    prices = subset.dropna(subset=["price"]).groupby("sku")["price"].median()
    now = datetime.now(UTC)
    rows = []
    for code, row in stats.iterrows():
        mean_w, std_w = float(row["mean"]), float(row["std"])
        lead = 14 if row["sold_weeks"] >= row["n_weeks"] / 2 else 28
        reorder = math.ceil(mean_w / 7 * lead + SAFETY_Z * std_w / math.sqrt(7) * math.sqrt(lead))
        price = round(float(prices.get(code, 0.0)), 2)
        name = str(names.get(code, code)).strip()[:200] or str(code)
        rows.append({"code": code, "name": name, "unit": "each", "unit_cost": round(price * COST_RATIO, 4),
                     "price": price, "reorder_point": reorder, "min_qty": reorder,
                     "max_qty": reorder + math.ceil(4 * mean_w), "supplier": None, "lead_time_days": lead,
                     "created_at": now})
    return rows
