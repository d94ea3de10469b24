"""Feature drift between training data and recently seen data: the population stability index (PSI).

At training time each feature's decile edges and the training share per bin are kept (in the model's
metadata, so they survive a reload); later, the share of recent rows per bin is compared with
PSI = sum((recent - train) * ln(recent / train)). Rule of thumb: < 0.1 stable, 0.1-0.25 moderate,
> 0.25 major shift.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

BINS = 10
MIN_RECENT_ROWS = 30
_EPS = 1e-4


def feature_profile(X: np.ndarray, columns: Sequence[str]) -> dict[str, dict[str, list[float]]]:
    """Per feature: inner decile edges of the training values and the training share in each bin."""
    profile: dict[str, dict[str, list[float]]] = {}
    for i, column in enumerate(columns):
        values = X[:, i][~np.isnan(X[:, i])]
        edges = np.unique(np.quantile(values, np.linspace(0, 1, BINS + 1)[1:-1]))
        profile[column] = {"edges": edges.tolist(), "shares": _shares(values, edges).tolist()}
    return profile


def _shares(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    counts = np.bincount(np.searchsorted(edges, values, side="right"), minlength=len(edges) + 1)
    shares: np.ndarray = counts / max(1, counts.sum())
    return shares


def psi(profile: dict[str, list[float]], recent: np.ndarray) -> float:
    edges = np.asarray(profile["edges"])
    train = np.clip(np.asarray(profile["shares"]), _EPS, None)
    now = np.clip(_shares(recent[~np.isnan(recent)], edges), _EPS, None)
    return float(((now - train) * np.log(now / train)).sum())


def drift_report(profile: dict[str, dict[str, list[float]]], recent: np.ndarray | None,
                 columns: Sequence[str]) -> dict[str, Any]:
    """PSI per feature, or the reason there is none yet (too few recent rows)."""
    n_recent = 0 if recent is None else len(recent)
    if recent is None or n_recent < MIN_RECENT_ROWS:
        return {"status": "insufficient_data", "recent_rows": n_recent, "minimum_rows": MIN_RECENT_ROWS}
    per_feature = {c: round(psi(profile[c], recent[:, i]), 4) for i, c in enumerate(columns) if c in profile}
    worst = max(per_feature.values(), default=0.0)
    status = "stable" if worst < 0.1 else "moderate" if worst < 0.25 else "major"
    return {"status": status, "method": "psi", "recent_rows": n_recent, "psi": per_feature}
