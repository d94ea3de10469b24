"""Typed DataFrames built from the inventory contract's JSON items.

Every computation in this package takes these frames, never raw JSON, so the column names and dtypes
are settled in one place. Missing numeric fields become NaN (an unset reorder point is not zero).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import pandas as pd

from sync.analytics.finite import finite_or_nan

SKU_COLUMNS = ("sku", "name", "unit", "unit_cost", "price", "reorder_point", "min_qty", "max_qty",
               "supplier", "lead_time_days", "policy", "created_at")
LEVEL_COLUMNS = ("sku", "location", "on_hand", "reserved", "available", "incoming", "updated_at")
MOVEMENT_COLUMNS = ("id", "type", "sku", "location", "quantity", "created_at")
DEMAND_COLUMNS = ("sku", "date", "quantity")

_SKU_NUMERIC = ("unit_cost", "price", "reorder_point", "min_qty", "max_qty", "lead_time_days")
_LEVEL_NUMERIC = ("on_hand", "reserved", "available", "incoming")


def _frame(items: Iterable[Mapping[str, Any]], columns: tuple[str, ...],
           rename: Mapping[str, str] | None = None) -> pd.DataFrame:
    df = pd.DataFrame(list(items))
    if rename:
        df = df.rename(columns=dict(rename))
    for column in columns:
        if column not in df.columns:
            df[column] = pd.Series(dtype="object")
    return df.loc[:, list(columns)].reset_index(drop=True)


def _numeric(df: pd.DataFrame, columns: Iterable[str]) -> None:
    for column in columns:
        df[column] = finite_or_nan(pd.to_numeric(df[column], errors="coerce").astype("float64"))


def _utc(series: pd.Series) -> pd.Series:
    return pd.to_datetime(series, utc=True, errors="coerce", format="ISO8601")


def skus_frame(items: Iterable[Mapping[str, Any]]) -> pd.DataFrame:
    """SKUs (``code`` renamed to ``sku``); numeric fields as float, NaN when unset."""
    df = _frame(items, SKU_COLUMNS, rename={"code": "sku"})
    _numeric(df, _SKU_NUMERIC)
    df["sku"] = df["sku"].astype(str)
    df["created_at"] = _utc(df["created_at"])
    return df.drop_duplicates("sku", keep="last").reset_index(drop=True)


def levels_frame(items: Iterable[Mapping[str, Any]]) -> pd.DataFrame:
    """Stock levels per (sku, location); quantities as float."""
    df = _frame(items, LEVEL_COLUMNS)
    _numeric(df, _LEVEL_NUMERIC)
    df[list(_LEVEL_NUMERIC)] = df[list(_LEVEL_NUMERIC)].fillna(0.0)
    df["sku"] = df["sku"].astype(str)
    df["location"] = df["location"].astype(str)
    df["updated_at"] = _utc(df["updated_at"])
    return df


def movements_frame(items: Iterable[Mapping[str, Any]]) -> pd.DataFrame:
    """Ledger rows; ``quantity`` is the signed change of on-hand, ``created_at`` UTC."""
    df = _frame(items, MOVEMENT_COLUMNS)
    _numeric(df, ("quantity",))
    df["quantity"] = df["quantity"].fillna(0.0)
    df["sku"] = df["sku"].astype(str)
    df["type"] = df["type"].astype(str)
    df["created_at"] = _utc(df["created_at"])
    return df.dropna(subset=["created_at"]).reset_index(drop=True)


def demand_frame(items: Iterable[Mapping[str, Any]]) -> pd.DataFrame:
    """Weekly demand history: ``date`` is the period end (naive date), ``quantity`` net units shipped."""
    df = _frame(items, DEMAND_COLUMNS)
    _numeric(df, ("quantity",))
    df["quantity"] = df["quantity"].fillna(0.0)
    df["sku"] = df["sku"].astype(str)
    df["date"] = pd.to_datetime(df["date"], errors="coerce").dt.normalize()
    if isinstance(df["date"].dtype, pd.DatetimeTZDtype):
        df["date"] = df["date"].dt.tz_localize(None)
    return df.dropna(subset=["date"]).reset_index(drop=True)
