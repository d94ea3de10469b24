"""Reconstruct each SKU's on-hand over a window from the current levels and the ledger.

The ledger is immutable and every row carries the signed change of on-hand, so the stock at any past
instant is ``current on-hand - sum(changes after that instant)``. From that step function we get the
time-weighted average stock (the denominator of turnover) and the share of the window a SKU was in
stock, without any snapshot table. Everything is vectorised over all SKUs at once.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def stock_over_window(on_hand_now: pd.Series, movements: pd.DataFrame, start: pd.Timestamp,
                      end: pd.Timestamp) -> pd.DataFrame:
    """Per SKU: ``opening``, ``closing``, ``avg_on_hand`` and ``in_stock_share`` over ``(start, end]``.

    ``on_hand_now`` is the current on-hand per SKU (summed over locations), indexed by SKU.
    ``movements`` must hold every ledger row created after ``start`` (columns ``sku``, ``created_at``,
    ``quantity``, ``id``); rows after ``end`` are used only to roll the current stock back to ``end``.
    SKUs in ``movements`` but not in ``on_hand_now`` are taken to have zero stock now.
    """
    if end <= start:
        raise ValueError("the window must end after it starts")
    moves = movements.loc[movements["created_at"] > start, ["sku", "created_at", "quantity", "id"]]
    skus = on_hand_now.index.union(pd.Index(moves["sku"].unique()))
    now = on_hand_now.reindex(skus, fill_value=0.0).astype("float64")

    later = moves.loc[moves["created_at"] > end].groupby("sku")["quantity"].sum()
    closing = now - later.reindex(skus, fill_value=0.0)
    inside = moves.loc[moves["created_at"] <= end].sort_values(["sku", "created_at", "id"], kind="stable")
    opening = closing - inside.groupby("sku")["quantity"].sum().reindex(skus, fill_value=0.0)

    # The step function: one segment opening at `start`, then one after each movement.
    starts = pd.DataFrame({"sku": skus, "time": start, "order": 0, "value": opening.to_numpy()})
    steps = pd.DataFrame({
        "sku": inside["sku"].to_numpy(),
        "time": inside["created_at"].to_numpy(),
        "order": 1,
        "value": (opening.reindex(inside["sku"]).to_numpy()
                  + inside.groupby("sku")["quantity"].cumsum().to_numpy()),
    })
    segments = pd.concat([starts, steps], ignore_index=True) if len(steps) else starts
    segments = segments.sort_values(["sku", "time", "order"], kind="stable").reset_index(drop=True)
    next_time = segments.groupby("sku")["time"].shift(-1).fillna(end)
    seconds = (next_time - segments["time"]).dt.total_seconds().to_numpy()
    total = (end - start).total_seconds()

    weighted = pd.Series(segments["value"].to_numpy() * seconds).groupby(segments["sku"]).sum()
    in_stock = pd.Series(np.where(segments["value"].to_numpy() > 0, seconds, 0.0)).groupby(segments["sku"]).sum()
    out = pd.DataFrame({
        "opening": opening,
        "closing": closing,
        "avg_on_hand": weighted.reindex(skus, fill_value=0.0) / total,
        "in_stock_share": in_stock.reindex(skus, fill_value=0.0) / total,
    })
    out.index.name = "sku"
    return out
