"""Held-out regression metrics and the report's definition of accuracy."""

from __future__ import annotations

import numpy as np


def regression_metrics(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, float | None]:
    """MAE, RMSE, R², WAPE, MAPE (over non-zero actuals) and bias (sum of errors over sum of actuals)."""
    y_true = np.asarray(y_true, dtype=np.float64)
    y_pred = np.asarray(y_pred, dtype=np.float64)
    err = y_pred - y_true
    abs_sum = float(np.abs(y_true).sum())
    ss_tot = float(((y_true - y_true.mean()) ** 2).sum())
    nonzero = y_true != 0
    return {
        "mae": float(np.abs(err).mean()),
        "rmse": float(np.sqrt((err**2).mean())),
        "r2": float(1 - (err**2).sum() / ss_tot) if ss_tot > 0 else None,
        "wape": float(np.abs(err).sum() / abs_sum) if abs_sum > 0 else None,
        "mape": float(np.mean(np.abs(err[nonzero] / y_true[nonzero]))) if nonzero.any() else None,
        "bias": float(err.sum() / abs_sum) if abs_sum > 0 else None,
    }


def accuracy(metrics: dict[str, float | None]) -> float | None:
    """The report's accuracy of one model: 1 - WAPE on held-out rows, clipped to [0, 1]."""
    wape = metrics.get("wape")
    if wape is None:
        return None
    return float(min(1.0, max(0.0, 1.0 - wape)))
