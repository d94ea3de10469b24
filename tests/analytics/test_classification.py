"""ABC/XYZ on a hand-computed example, the 80/15/5 boundary rule and the week calendar."""

from __future__ import annotations

import pandas as pd
import pytest

from sync.analytics.classification import (
    abc_classes,
    abc_xyz_matrix,
    classify,
    last_full_weeks,
    weekly_matrix,
    xyz_classes,
)
from sync.analytics.frames import demand_frame, skus_frame
from tests.analytics.helpers import sku

WEEKS = pd.DatetimeIndex(["2026-01-04", "2026-01-11", "2026-01-18", "2026-01-25"])
SERIES = {"P": [10, 10, 10, 10], "Q": [0, 20, 0, 20], "R": [5, 5, 15, 15], "S": [0, 0, 0, 0], "T": [0, 0, 0, 8]}
COSTS = {"P": 10.0, "Q": 1.0, "R": 2.0, "S": 5.0, "T": 1.0}


@pytest.fixture
def classified() -> pd.DataFrame:
    skus = skus_frame([sku(code, cost) for code, cost in COSTS.items()])
    rows = [{"sku": code, "date": str(week.date()), "quantity": qty}
            for code, series in SERIES.items() for week, qty in zip(WEEKS, series, strict=True)]
    rows.append({"sku": "P", "date": "2025-12-28", "quantity": 999})  # outside the weeks: ignored
    weekly = weekly_matrix(demand_frame(rows), pd.Index(skus["sku"]), WEEKS)
    return classify(skus, weekly)


def test_abc_by_annual_consumption_value(classified: pd.DataFrame) -> None:
    by_sku = classified.set_index("sku")
    # 40 units in 4 weeks -> 520 a year; values P 5200, R 1040, Q 520, T 104, S 0 (total 6864)
    assert by_sku["annual_consumption_value"].to_dict() == pytest.approx(
        {"P": 5200.0, "R": 1040.0, "Q": 520.0, "T": 104.0, "S": 0.0})
    assert classified["sku"].tolist() == ["P", "R", "Q", "T", "S"]
    # R starts at 75.8 % (< 80 %) so it is A although it ends at 90.9 %; Q starts at 90.9 % -> B
    assert by_sku["abc"].to_dict() == {"P": "A", "R": "A", "Q": "B", "T": "C", "S": "C"}
    assert by_sku.loc["R", "cumulative_share"] == pytest.approx(6240 / 6864)


def test_xyz_by_coefficient_of_variation(classified: pd.DataFrame) -> None:
    by_sku = classified.set_index("sku")
    # CVs: P 0, R 5/10 = 0.5 (X at the boundary), Q 10/10 = 1.0 (Y at the boundary), T sqrt(12)/2
    assert by_sku.loc[["P", "R", "Q", "T"], "cv"].tolist() == pytest.approx([0.0, 0.5, 1.0, 12 ** 0.5 / 2])
    assert pd.isna(by_sku.loc["S", "cv"])
    assert by_sku["xyz"].to_dict() == {"P": "X", "R": "X", "Q": "Y", "T": "Z", "S": "Z"}
    assert by_sku["class"].to_dict() == {"P": "AX", "R": "AX", "Q": "BY", "T": "CZ", "S": "CZ"}


def test_matrix_has_all_nine_cells(classified: pd.DataFrame) -> None:
    matrix = abc_xyz_matrix(classified)
    counts = {a + x: cell["sku_count"] for a, row in matrix.items() for x, cell in row.items()}
    assert counts == {"AX": 2, "AY": 0, "AZ": 0, "BX": 0, "BY": 1, "BZ": 0, "CX": 0, "CY": 0, "CZ": 2}
    assert matrix["A"]["X"]["annual_consumption_value"] == pytest.approx(6240.0)


def test_abc_thresholds_are_parameters_and_ties_are_stable() -> None:
    values = pd.Series({"b": 50.0, "a": 50.0, "c": 0.0})
    out = abc_classes(values, a_share=0.4, b_share=0.9)
    assert out.index.tolist() == ["a", "b", "c"]  # equal values: by SKU code
    assert out["abc"].tolist() == ["A", "B", "C"]  # b starts at exactly 50 %: not under 40 %
    assert abc_classes(pd.Series({"x": 0.0}))["abc"].tolist() == ["C"]  # no value at all
    with pytest.raises(ValueError):
        abc_classes(values, a_share=0.9, b_share=0.8)


def test_xyz_thresholds_are_parameters() -> None:
    weekly = pd.DataFrame([[5, 15], [10, 10]], index=["u", "v"])  # CVs 0.5 and 0
    assert xyz_classes(weekly, x_max=0.2, y_max=0.4)["xyz"].tolist() == ["Z", "X"]
    with pytest.raises(ValueError):
        xyz_classes(weekly, x_max=1.0, y_max=0.5)


def test_last_full_weeks_leaves_out_the_current_week() -> None:
    wednesday = pd.Timestamp("2026-11-25T20:00:00Z")
    assert last_full_weeks(wednesday, 3).strftime("%Y-%m-%d").tolist() == ["2026-11-08", "2026-11-15", "2026-11-22"]
    sunday = pd.Timestamp("2026-11-22T09:00:00Z")
    assert last_full_weeks(sunday, 1).strftime("%Y-%m-%d").tolist() == ["2026-11-15"]
    monday = pd.Timestamp("2026-11-23T00:30:00+02:00")  # still Sunday in UTC
    assert last_full_weeks(monday, 1).strftime("%Y-%m-%d").tolist() == ["2026-11-15"]
