"""Stock reconstructed from current levels and the ledger: hand-computed step functions."""

from __future__ import annotations

import pandas as pd
import pytest

from sync.analytics.frames import movements_frame
from sync.analytics.timeline import stock_over_window
from tests.analytics.helpers import move, ts


def test_time_weighted_average_and_in_stock_share_over_a_ten_day_window() -> None:
    moves = movements_frame([
        move("A", "receipt", 10, ts(3)), move("A", "shipment", -8, ts(6)),
        move("A", "shipment", -2, ts(12)),  # after the window: rolls the current stock back
        move("B", "receipt", 4, ts(2)), move("B", "shipment", -4, ts(4)),
        move("C", "shipment", -1, pd.Timestamp("2025-12-20", tz="UTC")),  # before the window: ignored
    ])
    now = pd.Series({"A": 5.0, "B": 0.0, "C": 3.0})
    out = stock_over_window(now, moves, ts(1), ts(11))
    # A: closing 5+2 = 7, opening 7-2 = 5; 5 for 2 days, 15 for 3 days, 7 for 5 days -> 90/10
    assert out.loc["A"].tolist() == pytest.approx([5.0, 7.0, 9.0, 1.0])
    # B: 0 for 1 day, 4 for 2 days, 0 for 7 days
    assert out.loc["B"].tolist() == pytest.approx([0.0, 0.0, 0.8, 0.2])
    # C never moved in the window: flat at 3
    assert out.loc["C"].tolist() == pytest.approx([3.0, 3.0, 3.0, 1.0])


def test_simultaneous_movements_and_sku_known_only_from_the_ledger() -> None:
    moves = movements_frame([
        move("X", "receipt", 6, ts(6)), move("X", "shipment", -6, ts(6)),  # same instant: net zero
        move("Y", "receipt", 2, ts(6)),  # Y has no level row: zero stock now, so it was -2 before
    ])
    out = stock_over_window(pd.Series({"X": 0.0}), moves, ts(1), ts(11))
    assert out.loc["X", "avg_on_hand"] == pytest.approx(0.0)
    assert out.loc["X", "in_stock_share"] == pytest.approx(0.0)
    assert out.loc["Y"].tolist() == pytest.approx([-2.0, 0.0, -1.0, 0.0])


def test_empty_ledger_and_bad_window() -> None:
    out = stock_over_window(pd.Series({"A": 4.0}), movements_frame([]), ts(1), ts(2))
    assert out.loc["A"].tolist() == pytest.approx([4.0, 4.0, 4.0, 1.0])
    with pytest.raises(ValueError, match="window"):
        stock_over_window(pd.Series({"A": 4.0}), movements_frame([]), ts(2), ts(2))


def test_in_stock_share_counts_only_the_part_of_the_window_a_sku_existed() -> None:
    moves = movements_frame([
        move("NEW", "receipt", 5, ts(8)),
        move("OLD", "receipt", 2, ts(3)),  # imported history: rows older than the SKU record
    ])
    created = pd.Series({"NEW": ts(6), "OLD": ts(20), "LATER": ts(20), "UNKNOWN": pd.NaT}).astype(
        "datetime64[ns, UTC]")
    now = pd.Series({"NEW": 5.0, "OLD": 2.0, "LATER": 0.0, "UNKNOWN": 0.0})
    out = stock_over_window(now, moves, ts(1), ts(11), created)
    # NEW existed from the 6th: 5 days, in stock from the 8th: 3 days; its average still spans 10 days
    assert out.loc["NEW", "in_stock_share"] == pytest.approx(0.6)
    assert out.loc["NEW", "avg_on_hand"] == pytest.approx(1.5)
    assert out.loc["OLD", "in_stock_share"] == pytest.approx(1.0)  # counted from its first row, the 3rd
    assert pd.isna(out.loc["LATER", "in_stock_share"])  # did not exist yet
    assert out.loc["UNKNOWN", "in_stock_share"] == 0.0  # no creation time: the whole window
