"""Validate a long demand history and hold it as dense per-SKU arrays (the statsforecast habit).

Everything downstream works on ``Panel.y`` shaped ``(n_sku, n_periods)``: no per-row Python loops.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd

from sync.errors import ValidationFailed

Array = npt.NDArray[np.float64]
REQUIRED = ("sku", "date", "quantity")
OPTIONAL = ("price", "promotion", "orders")
# How each optional column combines within a period: price and promotion are averaged, order counts
# (distinct orders behind the period's quantity) are summed.
_AGG = {"price": "mean", "promotion": "mean", "orders": "sum"}


@dataclass(frozen=True)
class Panel:
    """Regular-frequency demand of many SKUs: row i of every array is ``skus[i]``."""

    skus: npt.NDArray[np.object_]
    dates: pd.DatetimeIndex
    y: Array
    price: Array | None
    promotion: Array | None
    freq: str
    orders: Array | None = None  # distinct orders per period, when the history says

    @property
    def n_periods(self) -> int:
        return int(self.y.shape[1])

    def head(self, end: int) -> Panel:
        """The panel up to (not including) period ``end``: what was known at that origin."""
        return Panel(
            skus=self.skus,
            dates=self.dates[:end],
            y=self.y[:, :end],
            price=None if self.price is None else self.price[:, :end],
            promotion=None if self.promotion is None else self.promotion[:, :end],
            freq=self.freq,
            orders=None if self.orders is None else self.orders[:, :end],
        )

    def take(self, rows: npt.NDArray[np.int64]) -> Panel:
        """The panel of the SKUs at positions ``rows`` (same periods)."""
        return Panel(
            skus=self.skus[rows],
            dates=self.dates,
            y=self.y[rows],
            price=None if self.price is None else self.price[rows],
            promotion=None if self.promotion is None else self.promotion[rows],
            freq=self.freq,
            orders=None if self.orders is None else self.orders[rows],
        )

    def future_dates(self, horizon: int) -> pd.DatetimeIndex:
        return pd.date_range(self.dates[-1], periods=horizon + 1, freq=self.freq)[1:]


def _numeric(history: pd.DataFrame, column: str) -> pd.Series:
    values = history[column]
    if isinstance(values.dtype, pd.BooleanDtype) or values.dtype == bool:
        values = values.astype("float64")
    converted = pd.to_numeric(values, errors="coerce")
    bad = converted.isna() & values.notna()
    if bad.any():
        sample = values[bad].astype(str).unique()[:3].tolist()
        raise ValidationFailed(
            f"column '{column}' must be numeric; found {sample}",
            details={"column": column, "examples": sample},
        )
    return converted.astype("float64")


def validate_horizon(horizon: object) -> int:
    if isinstance(horizon, bool) or not isinstance(horizon, int | np.integer) or int(horizon) < 1:
        raise ValidationFailed(
            f"horizon must be an integer >= 1, got {horizon!r}", details={"field": "horizon"}
        )
    return int(horizon)


def to_panel(history: pd.DataFrame, freq: str = "W-SUN") -> Panel:
    """Check ``history`` (long: sku, date, quantity[, price, promotion, orders]) and build a dense panel.

    Dates are snapped to the end of their ``freq`` period and summed within it (quantity, orders) or
    averaged (price, promotion); missing periods get quantity 0, price carried forward, promotion 0,
    orders 0. A period whose net quantity is negative (more returned than sold) counts as 0.
    ``orders`` (how many distinct orders the period's quantity came from) must be a non-negative count.
    """
    if not isinstance(history, pd.DataFrame):
        raise ValidationFailed("history must be a pandas DataFrame", details={"field": "history"})
    missing = [c for c in REQUIRED if c not in history.columns]
    if missing:
        raise ValidationFailed(
            f"history is missing required columns {missing}", details={"missing": missing}
        )
    if history.empty:
        raise ValidationFailed("history is empty", details={"field": "history"})
    try:
        offset = pd.tseries.frequencies.to_offset(freq)
    except (ValueError, TypeError) as exc:
        raise ValidationFailed(f"unknown frequency {freq!r}", details={"field": "freq"}) from exc
    quantity = _numeric(history, "quantity")
    if quantity.isna().any():
        raise ValidationFailed("column 'quantity' has missing values", details={"column": "quantity"})
    if history["sku"].isna().any():
        raise ValidationFailed("column 'sku' has missing values", details={"column": "sku"})
    dates = pd.to_datetime(history["date"], errors="coerce")
    if dates.isna().any():
        raise ValidationFailed("column 'date' has missing or unparseable dates", details={"column": "date"})
    periods = dates.dt.to_period(offset.freqstr if hasattr(offset, "freqstr") else freq)
    period_end = periods.dt.end_time.dt.normalize()
    frame = pd.DataFrame({"sku": history["sku"].astype(str).to_numpy(), "date": period_end.to_numpy()})
    frame["quantity"] = quantity.to_numpy()
    present = [c for c in OPTIONAL if c in history.columns]
    for column in present:
        frame[column] = _numeric(history, column).to_numpy()
    if "orders" in present:
        orders = frame["orders"]
        if orders.isna().any() or (orders < 0).any() or not np.isfinite(orders).all():
            raise ValidationFailed(
                "column 'orders' must be a non-negative count of orders, without missing values",
                details={"column": "orders"},
            )
    agg: dict[str, str] = {"quantity": "sum", **{c: _AGG[c] for c in present}}
    grouped = frame.groupby(["sku", "date"], sort=True).agg(agg)
    all_dates = pd.date_range(grouped.index.get_level_values("date").min(),
                              grouped.index.get_level_values("date").max(), freq=freq)
    wide_q = grouped["quantity"].unstack("date").reindex(columns=all_dates)
    skus = wide_q.index.to_numpy(dtype=object)
    # A period whose returns exceed its sales (inventory's demand history is net of returns) is no
    # negative demand: it counts as zero, after netting within the period.
    y = np.clip(wide_q.fillna(0.0).to_numpy(dtype=np.float64), 0.0, None)
    price = None
    if "price" in present:
        wide_p = grouped["price"].unstack("date").reindex(columns=all_dates)
        price = wide_p.ffill(axis=1).bfill(axis=1).to_numpy(dtype=np.float64)
    promotion = None
    if "promotion" in present:
        wide_m = grouped["promotion"].unstack("date").reindex(columns=all_dates)
        promotion = wide_m.fillna(0.0).to_numpy(dtype=np.float64)
    orders = None
    if "orders" in present:
        wide_o = grouped["orders"].unstack("date").reindex(columns=all_dates)
        orders = wide_o.fillna(0.0).to_numpy(dtype=np.float64)
    return Panel(skus=skus, dates=all_dates, y=y, price=price, promotion=promotion, freq=freq, orders=orders)
