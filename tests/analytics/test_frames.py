"""Contract JSON to frames: renames, unset numbers, timestamps."""

from __future__ import annotations

import pandas as pd

from sync.analytics.frames import demand_frame, levels_frame, movements_frame, skus_frame


def test_skus_frame_keeps_unset_numbers_unset_and_accepts_numeric_strings() -> None:
    df = skus_frame([{"code": "A1", "name": "x", "unit_cost": "2.50", "reorder_point": None, "price": 4}])
    row = df.iloc[0]
    assert row.sku == "A1" and row.unit_cost == 2.5 and row.price == 4.0
    assert pd.isna(row.reorder_point) and pd.isna(row.max_qty)  # missing key and null alike


def test_levels_and_movements_parse_types_and_utc() -> None:
    levels = levels_frame([{"sku": 7, "location": "WH", "on_hand": "3", "reserved": None, "available": 3,
                            "incoming": 0, "updated_at": "2026-01-01T10:00:00+02:00"}])
    assert levels.iloc[0].sku == "7" and levels.iloc[0].reserved == 0.0
    assert levels.iloc[0].updated_at == pd.Timestamp("2026-01-01T08:00:00Z")
    moves = movements_frame([{"id": 1, "type": "shipment", "sku": "A", "location": "WH", "quantity": -2,
                              "created_at": "2026-01-01T00:00:00Z"}])
    assert moves.iloc[0].quantity == -2.0 and str(moves["created_at"].dt.tz) == "UTC"
    assert list(movements_frame([]).columns) == ["id", "type", "sku", "location", "quantity", "created_at"]


def test_demand_frame_dates_are_naive_period_ends() -> None:
    df = demand_frame([{"sku": "A", "date": "2026-01-04", "quantity": 5}])
    assert df.iloc[0].date == pd.Timestamp("2026-01-04")
