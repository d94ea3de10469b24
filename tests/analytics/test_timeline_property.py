"""The vectorised stock timeline against a plain row-by-row walk, on random ledgers."""

from __future__ import annotations

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sync.analytics.frames import movements_frame
from sync.analytics.timeline import stock_over_window

pytestmark = pytest.mark.slow

START = pd.Timestamp("2026-01-01", tz="UTC")
END = START + pd.Timedelta(days=10)
SKUS = ("a", "b", "c")

rows = st.lists(
    st.tuples(st.sampled_from(SKUS), st.integers(-20, 20), st.integers(-3 * 86400, 13 * 86400)),
    max_size=40,
)


def walk(now: dict[str, float], ledger: list[tuple[int, str, float, pd.Timestamp]]) -> dict[str, tuple[float, float]]:
    """Average on-hand and in-stock share per SKU, stepping through the rows in (time, id) order."""
    out = {}
    for sku in SKUS:
        mine = sorted((r for r in ledger if r[1] == sku), key=lambda r: (r[3], r[0]))
        level = now[sku] - sum(r[2] for r in mine if r[3] > START)  # stock at the window start
        area = stocked = 0.0
        since = START
        for _, _, qty, at in mine:
            if at <= START or at > END:
                continue
            span = (at - since).total_seconds()
            area += level * span
            stocked += span if level > 0 else 0.0
            level, since = level + qty, at
        span = (END - since).total_seconds()
        area += level * span
        stocked += span if level > 0 else 0.0
        total = (END - START).total_seconds()
        out[sku] = (area / total, stocked / total)
    return out


@settings(max_examples=150, deadline=None)
@given(rows, st.lists(st.integers(0, 30), min_size=3, max_size=3))
def test_matches_a_row_by_row_walk(data: list[tuple[str, int, int]], levels: list[int]) -> None:
    now = dict(zip(SKUS, map(float, levels), strict=True))
    ledger = [(i + 1, sku, float(qty), START + pd.Timedelta(seconds=offset))
              for i, (sku, qty, offset) in enumerate(data)]
    frame = movements_frame([{"id": i, "type": "adjustment", "sku": sku, "location": "L", "quantity": qty,
                              "created_at": at.isoformat()} for i, sku, qty, at in ledger])
    got = stock_over_window(pd.Series(now), frame, START, END)
    for sku, (average, share) in walk(now, ledger).items():
        assert got.loc[sku, "avg_on_hand"] == pytest.approx(average, abs=1e-9)
        assert got.loc[sku, "in_stock_share"] == pytest.approx(share, abs=1e-12)
