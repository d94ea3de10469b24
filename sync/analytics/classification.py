"""ABC (by annual consumption value) and XYZ (by demand variability) classification. Pure functions.

- ABC: SKUs sorted by annual consumption value (weekly demand x unit cost, scaled to 52 weeks), largest
  first; a SKU is A while the cumulative share *before* it is under ``a_share`` (so the SKU that
  crosses 80 % is still A), B under ``b_share``, C after. SKUs with no consumption value are C.
- XYZ: coefficient of variation (population std / mean) of weekly demand over the same weeks, zeros
  included: X when CV <= ``x_max``, Y when CV <= ``y_max``, Z above, and Z when there was no demand.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from sync.analytics.finite import product, saturate, shares, total

ABC = ("A", "B", "C")
XYZ = ("X", "Y", "Z")


def weekly_matrix(demand: pd.DataFrame, skus: pd.Index, weeks: pd.DatetimeIndex) -> pd.DataFrame:
    """SKU x week table of demand, zeros where a week has no row (rows outside ``weeks`` are dropped)."""
    inside = demand.loc[demand["date"].isin(weeks) & demand["sku"].isin(skus)]
    table = inside.pivot_table(index="sku", columns="date", values="quantity", aggfunc="sum", fill_value=0.0)
    return table.reindex(index=skus, columns=weeks, fill_value=0.0).astype("float64")


def abc_classes(values: pd.Series, *, a_share: float = 0.80, b_share: float = 0.95) -> pd.DataFrame:
    """Per SKU: ``value``, ``share``, ``cumulative_share`` (including itself), ``rank`` and ``abc``."""
    if not 0 < a_share < b_share < 1:
        raise ValueError("need 0 < a_share < b_share < 1")
    ordered = saturate(values.fillna(0.0).clip(lower=0.0)).sort_index(kind="stable").sort_values(
        ascending=False, kind="stable")
    share = shares(ordered)  # exact even when the total is past the float range
    cumulative = share.cumsum()
    before = cumulative - share
    abc = np.select([(before < a_share) & (ordered > 0), (before < b_share) & (ordered > 0)], ["A", "B"], "C")
    out = pd.DataFrame({"value": ordered, "share": share, "cumulative_share": cumulative,
                        "rank": np.arange(1, len(ordered) + 1), "abc": abc}, index=ordered.index)
    out.index.name = values.index.name or "sku"
    return out


def xyz_classes(weekly: pd.DataFrame, *, x_max: float = 0.5, y_max: float = 1.0) -> pd.DataFrame:
    """Per SKU (rows of ``weekly``): ``mean_weekly_demand``, ``std_weekly_demand``, ``cv`` and ``xyz``."""
    if not 0 < x_max < y_max:
        raise ValueError("need 0 < x_max < y_max")
    values = weekly.to_numpy(dtype="float64")
    if values.shape[1] == 0:
        mean = np.zeros(len(weekly))
        std = np.zeros(len(weekly))
    else:
        mean = values.mean(axis=1)
        std = values.std(axis=1)
    cv = np.divide(std, mean, out=np.full_like(mean, np.nan), where=mean > 0)
    xyz = np.select([mean <= 0, cv <= x_max, cv <= y_max], ["Z", "X", "Y"], "Z")
    return pd.DataFrame({"mean_weekly_demand": mean, "std_weekly_demand": std, "cv": cv, "xyz": xyz},
                        index=weekly.index)


def classify(skus: pd.DataFrame, weekly: pd.DataFrame, *, a_share: float = 0.80, b_share: float = 0.95,
             x_max: float = 0.5, y_max: float = 1.0) -> pd.DataFrame:
    """ABC and XYZ for every SKU of ``skus`` from a :func:`weekly_matrix` (SKUs x weeks).

    Annual consumption value = total demand over the weeks x unit cost x 52 / number of weeks.
    Rows are ordered by ABC rank (largest value first).
    """
    index = pd.Index(skus["sku"], name="sku")
    weekly = weekly.reindex(index=index, fill_value=0.0)
    n_weeks = weekly.shape[1]
    units = weekly.sum(axis=1)
    unit_cost = skus.set_index("sku")["unit_cost"].reindex(index).fillna(0.0)
    annual_units = units * (52.0 / n_weeks) if n_weeks else units * 0.0
    abc = abc_classes(product(annual_units, unit_cost), a_share=a_share, b_share=b_share)
    xyz = xyz_classes(weekly, x_max=x_max, y_max=y_max)
    out = abc.join(xyz).join(skus.set_index("sku")[["name", "unit_cost"]])
    out["annual_units"] = annual_units.reindex(out.index)
    out["class"] = out["abc"] + out["xyz"]
    out = out.rename(columns={"value": "annual_consumption_value"})
    return out.reset_index()


def abc_xyz_matrix(classified: pd.DataFrame) -> dict[str, dict[str, dict[str, Any]]]:
    """``{abc: {xyz: {"sku_count", "annual_consumption_value"}}}`` for all nine cells, empty ones too."""
    grouped = classified.groupby(["abc", "xyz"])["annual_consumption_value"].agg(["size", total])
    matrix: dict[str, dict[str, dict[str, Any]]] = {}
    for a in ABC:
        matrix[a] = {}
        for x in XYZ:
            count, value = (grouped.loc[(a, x)] if (a, x) in grouped.index else (0, 0.0))
            matrix[a][x] = {"sku_count": int(count), "annual_consumption_value": float(value)}
    return matrix


def last_full_weeks(as_of: pd.Timestamp, weeks: int) -> pd.DatetimeIndex:
    """Period ends (Sundays, naive dates) of the ``weeks`` full weeks ending before ``as_of``'s week.

    The week containing ``as_of`` is partial and would bias the variability, so it is left out.
    """
    if weeks <= 0:
        raise ValueError("weeks must be positive")
    day = (as_of.tz_convert("UTC") if as_of.tzinfo else as_of).tz_localize(None).normalize()
    last = day - pd.Timedelta(days=(day.weekday() + 1) % 7)  # the Sunday on or before `day`
    if last == day:
        last -= pd.Timedelta(days=7)
    return pd.date_range(end=last, periods=weeks, freq="7D")
