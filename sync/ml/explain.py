"""Explanations: which features moved a prediction, which matter overall, and how a forecast was made.

* :func:`shapley_values`: exact Shapley values of one row for any model that predicts a matrix
  (model-agnostic, interventional): the value of a coalition S of features is the mean prediction over
  a background sample with the features in S set to the row's values. With n features this takes 2^n
  coalitions x the background rows, in one vectorised ``predict`` call (n <= MAX_FEATURES). The values
  add up exactly: base value (mean prediction over the background) + sum of contributions = prediction.
* :func:`global_importance`: mean |Shapley value| per feature over the model's stored training sample
  (up to 32 training rows, also the background), cached per fitted model; it is in the report.
* :func:`explain_forecast`: per SKU, the demand segment, the candidate blend the forecaster chose for
  it, that blend's inner-origin RMSSE and every candidate's own forecast (read from the forecaster's
  recorded state; nothing in ``sync.ml.forecasting`` changed).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from math import factorial
from typing import Any

import numpy as np
import pandas as pd

from sync.errors import ValidationFailed

MAX_FEATURES = 12
MAX_BATCH_ROWS = 200_000  # rows per predict call (memory bound)
METHOD = ("exact interventional Shapley values against the model's training sample (base value = mean "
          "prediction over that sample; base + contributions = prediction)")
_CACHE: dict[str, dict[str, Any]] = {}
_CACHE_LOCK = threading.Lock()


def _masks(n: int) -> np.ndarray:
    """Every coalition as a boolean row; coalition k has feature i when bit i of k is set."""
    codes = np.arange(2**n)
    return ((codes[:, None] >> np.arange(n)) & 1).astype(bool)


def shapley_values(predict: Callable[[np.ndarray], np.ndarray], rows: np.ndarray,
                   background: np.ndarray) -> tuple[float, np.ndarray]:
    """Base value and Shapley values shaped like ``rows`` (n_rows, n_features)."""
    rows = np.atleast_2d(np.asarray(rows, dtype=np.float64))
    background = np.atleast_2d(np.asarray(background, dtype=np.float64))
    n = rows.shape[1]
    if n > MAX_FEATURES:
        raise ValidationFailed(f"exact Shapley values are computed for at most {MAX_FEATURES} features; "
                               f"this model has {n}", details={"features": n, "maximum": MAX_FEATURES})
    masks = _masks(n)
    n_masks, n_bg = len(masks), len(background)
    weights = np.array([factorial(s) * factorial(n - s - 1) / factorial(n) for s in range(n)])
    size = masks.sum(axis=1)
    base = float(np.mean(predict(background)))
    out = np.empty_like(rows)
    per_row = n_masks * n_bg
    step = max(1, MAX_BATCH_ROWS // per_row)  # rows explained per predict call
    for start in range(0, len(rows), step):
        chunk = rows[start:start + step]
        # (row, coalition, background row, feature): the row's value where the coalition has the feature
        mixed = np.where(masks[None, :, None, :], chunk[:, None, None, :], background[None, None, :, :])
        value = np.asarray(predict(mixed.reshape(-1, n)), dtype=np.float64).reshape(len(chunk), n_masks, n_bg)
        value = value.mean(axis=2)
        for i in range(n):
            codes = np.flatnonzero(~masks[:, i])
            out[start:start + len(chunk), i] = (weights[size[codes]] * (value[:, codes | (1 << i)]
                                                                        - value[:, codes])).sum(axis=1)
    return base, out


def _background(fitted: Any) -> np.ndarray:
    sample = np.asarray(fitted.metadata.get("sample_rows") or [], dtype=np.float64)
    if sample.ndim != 2 or not len(sample):
        raise ValidationFailed("this model has no stored training sample to explain against",
                               details={"field": "model_name"})
    return sample


def explain_prediction(fitted: Any, row: tuple[float, ...]) -> dict[str, Any]:
    """Shapley explanation of one row for a fitted model (``FittedModel``)."""
    columns = list(fitted.metadata["feature_columns"])
    base, phi = shapley_values(fitted.predict_matrix, np.array([row]), _background(fitted))
    prediction = float(fitted.predict_matrix(np.array([row], dtype=np.float64))[0])
    contributions = {c: float(v) for c, v in zip(columns, phi[0], strict=True)}
    ranked = sorted(columns, key=lambda c: -abs(contributions[c]))
    return {"prediction": prediction, "base_value": base, "contributions": contributions,
            "top": [{"feature": c, "value": float(row[columns.index(c)]), "contribution": contributions[c]}
                    for c in ranked],
            "method": METHOD}


def global_importance(fitted: Any) -> dict[str, Any] | None:
    """Mean |Shapley value| per feature over the model's training sample; None when it has none."""
    if fitted is None:
        return None
    with _CACHE_LOCK:
        hit = _CACHE.get(fitted.uid)
    if hit is not None:
        return hit
    try:
        sample = _background(fitted)
        _, phi = shapley_values(fitted.predict_matrix, sample, sample)
    except ValidationFailed as exc:
        return {"method": None, "values": None, "note": exc.message}
    columns = list(fitted.metadata["feature_columns"])
    mean_abs = np.abs(phi).mean(axis=0)
    total = float(mean_abs.sum()) or 1.0
    out = {"method": f"mean |Shapley value| over {len(sample)} training rows (background: the same rows)",
           "values": {c: float(v) for c, v in zip(columns, mean_abs, strict=True)},
           "shares": {c: float(v) / total for c, v in zip(columns, mean_abs, strict=True)},
           "ranking": [columns[i] for i in np.argsort(-mean_abs)]}
    with _CACHE_LOCK:
        if len(_CACHE) > 256:
            _CACHE.clear()
        _CACHE[fitted.uid] = out
    return out


def explain_forecast(history: pd.DataFrame, horizon: int, freq: str = "W-SUN",
                     quantiles: tuple[float, ...] = (0.9,)) -> list[dict[str, Any]]:
    """Per SKU: segment, chosen blend (weights), its inner RMSSE, each candidate's forecast and the blend's."""
    from sync.ml.forecasting.ensemble import SEGMENTS
    from sync.ml.forecasting.model import forecast_panel
    from sync.ml.forecasting.panel import to_panel, validate_horizon

    steps = validate_horizon(horizon)
    panel = to_panel(history, freq)
    forecast = forecast_panel(panel, steps, quantiles)
    selection = forecast.selection
    dates = [d.date().isoformat() for d in panel.future_dates(steps)]
    items = []
    for i, sku in enumerate(panel.skus):
        seg = int(forecast.segments[i])
        weights = forecast.blend_of(seg)
        if selection is None:
            why = "history too short for inner origins: the default candidate alone"
            inner = None
        else:
            inner = float(selection.inner_rmsse[seg])
            why = (f"lowest inner-origin RMSSE ({inner:.3f}) among the candidate blends over the "
                   f"{SEGMENTS[seg]} SKUs")
        items.append({"sku": str(sku), "segment": SEGMENTS[seg], "blend": weights, "inner_rmsse": inner,
                      "why": why, "dates": dates, "forecast": [float(v) for v in forecast.point[i]],
                      "candidates": {name: [float(v) for v in f[i]] for name, (f, _) in forecast.candidates.items()}})
    return items
