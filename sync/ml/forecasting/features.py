"""Features of the global model, built for every SKU and origin at once from the dense panel.

A training row is (SKU i, origin t, horizon k): features use only periods before ``t``; the target is
period ``t + k - 1``. Demand features are divided by the SKU's scale so one model serves SKUs selling
2 or 2,000 a week, and the scaled squared error it minimises is the RMSSE the forecast is judged by.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd

from sync.ml.forecasting.panel import Array, Panel

LAGS = (1, 2, 3, 4, 5, 6, 7, 8)
WINDOWS = (4, 8, 13, 26, 52)
EWM_ALPHAS = (0.1, 0.3)
SEASON = 52


def sku_scale(y: Array) -> Array:
    """Per-SKU scale: root mean squared first difference (RMSSE's denominator), floored by the mean."""
    diffs = np.diff(y, axis=1)
    rms = np.sqrt(np.mean(diffs**2, axis=1)) if y.shape[1] > 1 else np.zeros(y.shape[0])
    level = np.mean(np.abs(y), axis=1)
    return np.maximum(np.maximum(rms, level), 1e-3)


def _rolling_mean(cum: Array, t_index: npt.NDArray[np.int64], window: int) -> Array:
    """Mean of y[:, t-window:t] for each origin t (columns), from a zero-padded cumulative sum."""
    lo = np.maximum(t_index - window, 0)
    count = np.maximum(t_index - lo, 1)
    return (cum[:, t_index] - cum[:, lo]) / count


ORDER_ALPHAS = (0.1, 0.3, 0.5)
SIZE_WINDOW = 52
ORDER_LEVEL = "ordmean4"  # the orders-based level the global model starts from (see gbm.py)


def order_size(y: Array, orders: Array, window: int = SIZE_WINDOW) -> Array:
    """Units per order over the last ``window`` periods of each SKU; NaN where it had no orders."""
    qty = y[:, -window:].sum(axis=1)
    count = orders[:, -window:].sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(count > 0, qty / count, np.nan)


def _ewm(y: Array, alpha: float) -> Array:
    """Exponentially weighted level known at each origin t (column t uses y[:, :t]); vectorised over SKUs."""
    n, length = y.shape
    out = np.full((n, length + 1), np.nan)
    level = y[:, 0].copy()
    out[:, 1] = level
    for t in range(1, length):
        level = alpha * y[:, t] + (1.0 - alpha) * level
        out[:, t + 1] = level
    return out


@dataclass
class OriginFeatures:
    """Origin-level features for origins 0..T (shape ``(n_sku, T + 1, n_features)``) and their names."""

    values: npt.NDArray[np.float32]
    names: list[str]
    scaled_y: Array
    scale: Array


def origin_features(panel: Panel, scale: Array) -> OriginFeatures:
    """Lags, rolling statistics, intermittency, price and promotion features known at every origin."""
    y = panel.y / scale[:, None]
    n, length = y.shape
    t_index = np.arange(length + 1)
    padded = np.concatenate([np.full((n, max(LAGS)), np.nan), y], axis=1)
    cols: list[Array] = []
    names: list[str] = []
    for lag in LAGS:
        cols.append(padded[:, max(LAGS) + t_index - lag])
        names.append(f"lag{lag}")
    cum = np.concatenate([np.zeros((n, 1)), np.cumsum(y, axis=1)], axis=1)
    cum2 = np.concatenate([np.zeros((n, 1)), np.cumsum(y**2, axis=1)], axis=1)
    nonzero = (panel.y > 0).astype(np.float64)
    cumnz = np.concatenate([np.zeros((n, 1)), np.cumsum(nonzero, axis=1)], axis=1)
    for window in WINDOWS:
        mean = _rolling_mean(cum, t_index, window)
        cols.append(mean)
        names.append(f"mean{window}")
        if window in (8, 26, 52):
            sq = _rolling_mean(cum2, t_index, window)
            cols.append(np.sqrt(np.maximum(sq - mean**2, 0.0)))
            names.append(f"std{window}")
            share = _rolling_mean(cumnz, t_index, window)
            cols.append(share)
            names.append(f"nonzero{window}")
            with np.errstate(divide="ignore", invalid="ignore"):
                cols.append(np.where(share > 0, mean / share, 0.0))
            names.append(f"size{window}")
    for alpha in EWM_ALPHAS:
        cols.append(_ewm(y, alpha))
        names.append(f"ewm{alpha}")
    # Periods since the last sale, known at each origin.
    last_sale = np.where(nonzero > 0, np.arange(length)[None, :], -1)
    last_sale = np.maximum.accumulate(last_sale, axis=1)
    since = np.concatenate([np.full((n, 1), length), t_index[None, 1:] - 1 - last_sale], axis=1)
    since = np.where(np.concatenate([np.full((n, 1), -1), last_sale], axis=1) < 0, length, since)
    cols.append(since.astype(np.float64))
    names.append("since_sale")
    cols.append(np.broadcast_to(np.log(scale)[:, None], (n, length + 1)))
    names.append("log_scale")
    cols.append(np.broadcast_to(t_index[None, :].astype(np.float64), (n, length + 1)))
    names.append("age")
    if panel.price is not None:
        price = np.where(np.isfinite(panel.price) & (panel.price > 0), panel.price, np.nan)
        ppad = np.concatenate([np.full((n, 1), np.nan), price], axis=1)  # column t = price at t-1
        pser = pd.DataFrame(ppad.T)
        ref = pser.rolling(26, min_periods=1).mean().to_numpy().T
        cols.append(np.log(ppad))
        names.append("log_price")
        cols.append(ppad / ref)
        names.append("price_ratio26")
    if panel.orders is not None:
        cols_o, names_o = _order_features(panel, scale, t_index, cum)
        cols += cols_o
        names += names_o
    if panel.promotion is not None:
        promo = np.concatenate([np.zeros((n, 1)), panel.promotion], axis=1)
        cols.append(promo)
        names.append("promo_last")
        cpromo = np.concatenate([np.zeros((n, 1)), np.cumsum(panel.promotion, axis=1)], axis=1)
        cols.append(_rolling_mean(cpromo, t_index, 8))
        names.append("promo8")
    values = np.stack(cols, axis=2).astype(np.float32)
    return OriginFeatures(values=values, names=names, scaled_y=y, scale=scale)


def _order_features(
    panel: Panel, scale: Array, t_index: npt.NDArray[np.int64], cum_scaled: Array
) -> tuple[list[Array], list[str]]:
    """Demand levels from order counts: recent orders per period x long-run units per order.

    A week lifted by one bulk order has a large quantity but a single order, so these levels move with
    the number of buyers, not with one buyer's order size (``orders`` is optional in the history).
    """
    assert panel.orders is not None
    n = panel.y.shape[0]
    orders = panel.orders
    cum_o = np.concatenate([np.zeros((n, 1)), np.cumsum(orders, axis=1)], axis=1)
    cum_y = cum_scaled * scale[:, None]
    with np.errstate(divide="ignore", invalid="ignore"):
        def size(window: int) -> Array:
            count = _rolling_mean(cum_o, t_index, window)
            return np.where(count > 0, _rolling_mean(cum_y, t_index, window) / count, np.nan)

        size_long = size(SIZE_WINDOW) / scale[:, None]  # scaled units per order
        cols: list[Array] = [_ewm(orders, alpha) * size_long for alpha in ORDER_ALPHAS]
        names = [f"ordlvl{alpha}" for alpha in ORDER_ALPHAS]
        for window in (4, 8):
            cols.append(_rolling_mean(cum_o, t_index, window) * size_long)
            names.append(f"ordmean{window}")
        cols.append(size(13) / (size_long * scale[:, None]))
        names.append("size_ratio")
    cols.append(_rolling_mean(cum_o, t_index, 8))
    names.append("orders_m8")
    return cols, names


def _target_features(
    feats: OriginFeatures, dates: pd.DatetimeIndex, freq: str, rows_t: npt.NDArray[np.int64],
    rows_i: npt.NDArray[np.int64], k: int,
) -> tuple[Array, list[str]]:
    """Features of the target period t + k - 1: horizon, calendar and the same weeks a season ago."""
    y = feats.scaled_y
    length = y.shape[1]
    target = rows_t + k - 1
    # Every target period's date, however far past the history it lies (any horizon the caller asks for).
    all_dates = pd.date_range(dates[0], periods=max(int(target.max(initial=0)) + 1, length), freq=freq)
    tdates = all_dates[target]
    week = tdates.isocalendar().week.to_numpy(dtype=np.float64)
    month = tdates.month.to_numpy(dtype=np.float64)
    cols = [np.full(len(rows_t), float(k)), week, month]
    names = ["horizon", "week", "month"]
    for offset, name in ((0, "season0"), (-1, "season_m1"), (1, "season_p1")):
        idx = target - SEASON + offset
        ok = (idx >= 0) & (idx < rows_t)
        cols.append(np.where(ok, y[rows_i, np.clip(idx, 0, length - 1)], np.nan))
        names.append(name)
    # Mean of the 8 weeks a season ago around the target, and of the 8 before the origin a season ago.
    cum = np.concatenate([np.zeros((y.shape[0], 1)), np.cumsum(y, axis=1)], axis=1)
    hi = target - SEASON + 4
    lo = target - SEASON - 4
    ok = (lo >= 0) & (hi <= rows_t)
    win = (cum[rows_i, np.clip(hi, 0, length)] - cum[rows_i, np.clip(lo, 0, length)]) / 8.0
    cols.append(np.where(ok, win, np.nan))
    names.append("season_win8")
    o_hi = rows_t - SEASON
    o_lo = rows_t - SEASON - 8
    ok = o_lo >= 0
    prev = (cum[rows_i, np.clip(o_hi, 0, length)] - cum[rows_i, np.clip(o_lo, 0, length)]) / 8.0
    cols.append(np.where(ok, prev, np.nan))
    names.append("season_prev8")
    return np.stack(cols, axis=1), names


def design(
    feats: OriginFeatures, dates: pd.DatetimeIndex, freq: str,
    rows_i: npt.NDArray[np.int64], rows_t: npt.NDArray[np.int64], k: int,
) -> tuple[npt.NDArray[np.float32], list[str]]:
    """Feature matrix for rows (SKU ``rows_i``, origin ``rows_t``) at horizon ``k``."""
    base = feats.values[rows_i, rows_t, :]
    extra, extra_names = _target_features(feats, dates, freq, rows_t, rows_i, k)
    return np.concatenate([base, extra.astype(np.float32)], axis=1), feats.names + extra_names
