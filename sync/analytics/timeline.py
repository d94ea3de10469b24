"""Reconstruct each SKU's on-hand over a window from the current levels and the ledger.

The ledger is immutable and every row carries the signed change of on-hand, so the stock at any past
instant is ``current on-hand - sum(changes after that instant)``. From that step function we get the
time-weighted average stock (the denominator of turnover) and the share of the window a SKU was in
stock, without any snapshot table. SKUs become integer codes once and the work is numpy over arrays
(sort, cumulative sums, ``bincount``), never a per-SKU loop or a groupby on strings.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def ns(column: pd.Series) -> np.ndarray:
    """UTC timestamps as int64 nanoseconds since the epoch."""
    utc = column.dt.tz_convert("UTC").dt.tz_localize(None) if column.dt.tz is not None else column
    nanoseconds: np.ndarray = utc.to_numpy(dtype="datetime64[ns]").view("int64")
    return nanoseconds


def stock_over_window(on_hand_now: pd.Series, movements: pd.DataFrame, start: pd.Timestamp,
                      end: pd.Timestamp, created: pd.Series | None = None) -> pd.DataFrame:
    """Per SKU: ``opening``, ``closing``, ``avg_on_hand`` and ``in_stock_share`` over ``(start, end]``.

    ``on_hand_now`` is the current on-hand per SKU (summed over locations), indexed by SKU.
    ``movements`` must hold every ledger row created after ``start`` (columns ``sku``, ``created_at``,
    ``quantity``, ``id``); rows after ``end`` are used only to roll the current stock back to ``end``.
    SKUs in ``movements`` but not in ``on_hand_now`` are taken to have zero stock now.

    ``created`` (per SKU, optional) keeps a SKU's in-stock share to the part of the window it existed
    in: from its creation or its first ledger row in the window, whichever is earlier (imported history
    predates the SKU record). A SKU that did not exist yet at ``end`` has no share (NaN). The average
    on-hand always spans the whole window, as turnover needs.
    """
    if end <= start:
        raise ValueError("the window must end after it starts")
    t0, t1 = pd.Timestamp(start).value, pd.Timestamp(end).value
    times = ns(movements["created_at"])
    keep = times > t0
    times = times[keep]
    moves = movements.loc[keep]
    skus = on_hand_now.index.union(pd.Index(moves["sku"].unique()))
    n = len(skus)
    codes = skus.get_indexer(moves["sku"])
    qty = moves["quantity"].to_numpy(dtype="float64")
    ids = moves["id"].to_numpy()
    now = on_hand_now.reindex(skus, fill_value=0.0).to_numpy(dtype="float64")

    later = times > t1
    closing = now - np.bincount(codes[later], weights=qty[later], minlength=n)
    order = np.lexsort((ids[~later], times[~later], codes[~later]))  # by SKU, then time, then id
    c, t, q = codes[~later][order], times[~later][order], qty[~later][order]
    opening = closing - np.bincount(c, weights=q, minlength=n)

    # Stock after each movement: opening + running sum of the SKU's changes so far.
    first = np.r_[True, c[1:] != c[:-1]] if len(c) else np.zeros(0, dtype=bool)
    last = np.r_[c[1:] != c[:-1], True] if len(c) else np.zeros(0, dtype=bool)
    running = np.cumsum(q)
    group_start = np.maximum.accumulate(np.where(first, np.arange(len(c)), 0))
    after = opening[c] + running - (running[group_start] - q[group_start])
    until = np.where(last, t1, np.r_[t[1:], t1] if len(t) else t).astype("float64")
    seconds = (until - t) / 1e9
    first_move = np.full(n, t1, dtype="int64")
    first_move[c[first]] = t[first]
    lead = (first_move - t0) / 1e9  # from the window start to the SKU's first movement in it
    born = np.full(n, t0, dtype="int64")
    if created is not None:
        known = created.reindex(skus)
        stamps = np.where(known.isna(), t0, ns(known.fillna(pd.Timestamp(t0, tz="UTC"))))
        born = np.clip(np.minimum(stamps, first_move), t0, t1)

    total = (t1 - t0) / 1e9
    weighted = opening * lead + np.bincount(c, weights=after * seconds, minlength=n)
    in_stock = (np.where(opening > 0, (first_move - born) / 1e9, 0.0)
                + np.bincount(c, weights=(after > 0) * seconds, minlength=n))
    life = (t1 - born) / 1e9
    share = np.divide(in_stock, life, out=np.full(n, np.nan), where=life > 0)
    return pd.DataFrame({"opening": opening, "closing": closing, "avg_on_hand": weighted / total,
                         "in_stock_share": share}, index=pd.Index(skus, name="sku"))
