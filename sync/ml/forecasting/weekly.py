"""Turn raw Online Retail transaction lines into the weekly per-SKU panel the SPEC's benchmark uses.

One implementation shared by ``bench/forecast.py`` and the tests, so the figures they report are
computed on the same history.
"""

from __future__ import annotations

from os import PathLike

import numpy as np
import pandas as pd

from sync.errors import ValidationFailed

TRANSACTION_COLUMNS = ("Invoice", "StockCode", "Quantity", "InvoiceDate", "Price")
DATE_FORMAT = "%m/%d/%Y %H:%M"


def read_transactions(path: str | PathLike[str]) -> pd.DataFrame:
    """Read a transactions CSV (plain or compressed) with the columns the weekly panel needs."""
    frame = pd.read_csv(
        path,
        usecols=list(TRANSACTION_COLUMNS),
        dtype={"Invoice": str, "StockCode": str, "Quantity": "float64", "Price": "float64"},
    )
    frame["InvoiceDate"] = pd.to_datetime(frame["InvoiceDate"], format=DATE_FORMAT)
    return frame


def sales_lines(transactions: pd.DataFrame) -> pd.DataFrame:
    """Keep real product sales: positive quantity and price, no ``C`` invoice, five-digit stock code."""
    missing = [c for c in TRANSACTION_COLUMNS if c not in transactions.columns]
    if missing:
        raise ValidationFailed(f"transactions lack columns {missing}", details={"missing": missing})
    invoice = transactions["Invoice"].astype(str)
    code = transactions["StockCode"].astype(str)
    keep = (
        (transactions["Quantity"] > 0)
        & (transactions["Price"] > 0)
        & ~invoice.str.startswith("C")
        & code.str.match(r"^\d{5}")
    )
    return transactions.loc[keep]


def weekly_history(
    transactions: pd.DataFrame, *, min_nonzero_weeks: int = 52, freq: str = "W-SUN"
) -> pd.DataFrame:
    """Weekly long history ``sku, date, quantity, price, orders`` per the SPEC's benchmark method.

    Sums sales per StockCode per week ending Sunday, drops the partial first and last weeks, fills
    missing weeks with 0 and keeps SKUs with at least ``min_nonzero_weeks`` non-zero weeks. ``price``
    is the quantity-weighted mean sale price of the week, carried forward (then back) over weeks
    without sales, so it is known for every week. ``orders`` is the number of distinct invoices the
    week's quantity came from (0 in weeks without sales): derived from the same lines, so a week's
    value never depends on any other week. The quantity stays the SPEC's weekly sum.
    """
    sales = sales_lines(transactions)
    if sales.empty:
        raise ValidationFailed("no sales lines in the transactions")
    first_day = sales["InvoiceDate"].min().normalize()
    last_day = sales["InvoiceDate"].max().normalize()
    period = sales["InvoiceDate"].dt.to_period(freq)
    week_end = period.dt.end_time.dt.normalize()
    frame = pd.DataFrame(
        {
            "sku": sales["StockCode"].to_numpy(),
            "date": week_end.to_numpy(),
            "quantity": sales["Quantity"].to_numpy(),
            "revenue": (sales["Quantity"] * sales["Price"]).to_numpy(),
            "invoice": sales["Invoice"].astype(str).to_numpy(),
        }
    )
    grouped = frame.groupby(["sku", "date"], sort=True, observed=True)
    weekly = grouped[["quantity", "revenue"]].sum()
    weekly["orders"] = grouped["invoice"].nunique().astype("float64")
    # A week is full when its seven days all lie inside the data's span.
    first_full = pd.Period(first_day, freq).end_time.normalize()
    if first_full - pd.Timedelta(days=6) < first_day:
        first_full += pd.Timedelta(days=7)
    last_full = pd.Period(last_day, freq).end_time.normalize()
    if last_full > last_day:
        last_full -= pd.Timedelta(days=7)
    weeks = pd.date_range(first_full, last_full, freq=freq)
    skus = weekly.index.get_level_values("sku").unique()
    full_index = pd.MultiIndex.from_product([skus, weeks], names=["sku", "date"])
    weekly = weekly.reindex(full_index, fill_value=0.0)
    nonzero = (weekly["quantity"] > 0).groupby(level="sku").sum()
    keep = nonzero.index[nonzero >= min_nonzero_weeks]
    weekly = weekly.loc[weekly.index.get_level_values("sku").isin(keep)].reset_index()
    with np.errstate(divide="ignore", invalid="ignore"):
        price = np.where(weekly["quantity"] > 0, weekly["revenue"] / weekly["quantity"], np.nan)
    weekly["price"] = price
    weekly["price"] = weekly.groupby("sku")["price"].transform(lambda s: s.ffill().bfill())
    return weekly[["sku", "date", "quantity", "price", "orders"]].reset_index(drop=True)
