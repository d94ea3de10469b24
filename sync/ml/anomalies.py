"""Isolation Forest anomaly detection on chosen columns (contamination = ML_ANOMALY_THRESHOLD)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from sklearn.ensemble import IsolationForest
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline

from sync.errors import ValidationFailed
from sync.ml.validation import check_frame, check_rows, numeric_matrix

MIN_ROWS = 10


def detect_anomalies(df: pd.DataFrame, columns: Sequence[str], *, contamination: float,
                     random_state: int = 0) -> list[dict[str, Any]]:
    """Rows Isolation Forest scores as outliers, most anomalous first.

    Each item: ``index`` (the frame's index label), ``score`` (higher = more anomalous; the negated
    ``score_samples``) and ``values`` (the row's values in ``columns``).
    """
    check_frame(df, "anomaly data")
    if isinstance(columns, str) or not columns:
        raise ValidationFailed("columns must be a non-empty list of column names", details={"columns": columns})
    columns = list(columns)
    X = numeric_matrix(df, columns, "anomaly data")
    check_rows(len(X), "anomaly data", MIN_ROWS)
    detector = Pipeline([
        ("impute", SimpleImputer(strategy="median")),
        ("forest", IsolationForest(contamination=contamination, random_state=random_state, n_estimators=100)),
    ]).fit(X)
    flags = detector.predict(X) == -1
    scores = -detector.score_samples(X)
    found = np.flatnonzero(flags)
    found = found[np.argsort(-scores[found], kind="stable")]
    index = df.index
    return [
        {"index": _plain(index[i]), "score": float(scores[i]),
         "values": {c: (None if np.isnan(X[i, j]) else float(X[i, j])) for j, c in enumerate(columns)}}
        for i in found
    ]


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value
