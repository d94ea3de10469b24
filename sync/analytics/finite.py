"""Saturating arithmetic, so a report survives any value the inventory database can hold.

A unit cost of 1e308 (SQLite keeps any REAL) times a few units is past the largest double: plain
float arithmetic gives ``inf``, then ``inf - inf`` or ``inf / inf`` gives NaN, and a NaN where the
schema promises a number fails the whole report. Every product, sum and ratio that can overflow goes
through these helpers instead: a result beyond the float range is reported as the largest finite
double (``MAX``, with its sign), which reads as "absurdly large" and keeps the rest of the report
usable. NaN (an unset figure) stays NaN.
"""

from __future__ import annotations

from typing import Any, TypeVar

import numpy as np
import pandas as pd

MAX = float(np.finfo(np.float64).max)
T = TypeVar("T", pd.Series, np.ndarray)


def saturate(values: T) -> T:
    """``values`` with +-inf replaced by +-MAX (NaN kept)."""
    return np.clip(values, -MAX, MAX)  # type: ignore[no-any-return]


def finite_or_nan(values: pd.Series) -> pd.Series:
    """Inputs read from the inventory: an infinite cost or quantity is no figure at all (NaN)."""
    return values.where(np.isfinite(values.to_numpy(dtype="float64")))


def product(a: Any, b: Any) -> Any:
    """``a * b``, saturated."""
    with np.errstate(over="ignore", invalid="ignore"):
        return saturate(a * b)


def ratio(num: Any, den: Any) -> Any:
    """``num / den``, saturated (callers keep ``den`` positive)."""
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        return saturate(num / den)


def total(values: Any) -> float:
    """Sum of the defined values, saturated; 0.0 when there are none."""
    array = np.asarray(values, dtype=np.float64)
    array = saturate(array[~np.isnan(array)])
    with np.errstate(over="ignore", invalid="ignore"):
        result = float(np.sum(array))
    if np.isnan(result):  # +MAX and -MAX overflowed both ways: sum the halves instead
        result = float(np.sum(array / 2.0)) * 2.0
    return float(np.clip(result, -MAX, MAX))


def shares(values: pd.Series) -> pd.Series:
    """Each value's share of the total of the (non-negative) values, exact even when that total overflows.

    Values are scaled by the largest one first, so the sum stays below the number of values.
    """
    largest = float(values.max()) if len(values) else 0.0
    if not largest > 0:
        return values * 0.0
    scaled = values / largest
    return scaled / float(scaled.sum())
