"""Fit one model: validation, model choice by cross-validation, held-out metrics and calibration.

Every model is a scikit-learn ``Pipeline`` (median imputation -> standard scaling -> regressor), fit
on 80% of the rows; the other 20% (at least 10) are never fit on and give the report's metrics and
the conformal interval. When the model is a :class:`Candidates` set, each candidate pipeline is scored
by k-fold RMSE on the 80% and the best one is kept.
"""

from __future__ import annotations

import hashlib
import platform
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd
import sklearn
import skops
from sklearn.base import clone
from sklearn.ensemble import VotingRegressor
from sklearn.impute import SimpleImputer
from sklearn.model_selection import KFold
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from sync.errors import ValidationFailed
from sync.ml.conformal import Calibration
from sync.ml.drift import feature_profile
from sync.ml.fast_predict import RowFn, compile_pipeline
from sync.ml.metrics import regression_metrics
from sync.ml.types import MODEL_TYPES, Candidates, MLModel
from sync.ml.validation import check_frame, check_rows, numeric_matrix, target_vector

HOLDOUT_SHARE = 0.2
MIN_HOLDOUT_ROWS = 10


@dataclass
class FittedModel:
    """A trained pipeline with what serving and the report need; ``version`` is None until saved."""

    pipeline: Any
    calibration: Calibration
    metadata: dict[str, Any]
    version: int | None = None
    uid: str = field(default_factory=lambda: uuid.uuid4().hex)
    fast: RowFn | None = None

    @property
    def version_label(self) -> str:
        return f"v{self.version}" if self.version is not None else f"unsaved-{self.uid[:8]}"

    def predict_matrix(self, X: np.ndarray) -> np.ndarray:
        """Predictions for the rows of ``X``; a row the model gives no finite number for is refused (422)."""
        with np.errstate(over="ignore", invalid="ignore"):
            if self.fast is not None:
                values = self.fast(X)
            else:
                values = np.asarray(self.pipeline.predict(X), dtype=np.float64).reshape(-1)
        bad = np.flatnonzero(~np.isfinite(values))
        if len(bad):
            name = self.metadata.get("model_name")
            raise ValidationFailed(
                f"model {name!r} gives no finite prediction for {len(bad)} of {len(values)} rows "
                f"(first: row {int(bad[0])}); their feature values are too extreme for it",
                details={"rows": bad[:20].tolist(), "model_name": name})
        return values

    def saved_metadata(self) -> dict[str, Any]:
        return dict(self.metadata, calibration=self.calibration.to_dict())

    @classmethod
    def from_saved(cls, pipeline: Any, metadata: dict[str, Any]) -> FittedModel:
        meta = dict(metadata)
        calibration = Calibration.from_dict(meta.pop("calibration"))
        sample = np.asarray(meta.get("sample_rows") or [], dtype=np.float64)
        fast = compile_pipeline(pipeline, sample) if len(sample) else None
        return cls(pipeline=pipeline, calibration=calibration, metadata=meta, version=int(meta["version"]),
                   fast=fast)


def library_versions() -> dict[str, str]:
    return {"python": platform.python_version(), "scikit-learn": sklearn.__version__,
            "numpy": np.__version__, "pandas": pd.__version__, "skops": skops.__version__}


def make_pipeline(estimator: Any) -> Pipeline:
    return Pipeline([("impute", SimpleImputer(strategy="median")), ("scale", StandardScaler()),
                     ("model", clone(estimator))])


def data_hash(X: np.ndarray, y: np.ndarray) -> str:
    digest = hashlib.sha256(np.ascontiguousarray(X).tobytes())
    digest.update(np.ascontiguousarray(y).tobytes())
    return digest.hexdigest()


@contextmanager
def _progress(enabled: bool, description: str, total: int) -> Iterator[Any]:
    if not enabled:
        yield lambda: None
        return
    from rich.progress import Progress

    with Progress(transient=False) as bar:
        task = bar.add_task(description, total=total)
        yield lambda: bar.advance(task)


def _choose(candidates: Candidates, X: np.ndarray, y: np.ndarray, random_state: int,
            progress: bool, name: str) -> tuple[str, Any, dict[str, float]]:
    """k-fold RMSE of every candidate (and of their average with ``combine``); the best one wins."""
    folds = list(KFold(n_splits=candidates.cv, shuffle=True, random_state=random_state).split(X))
    predictions = {label: np.empty(len(y)) for label in candidates.estimators}
    with _progress(progress, f"selecting {name}", len(folds) * len(candidates.estimators)) as advance:
        for train, test in folds:
            for label, estimator in candidates.estimators.items():
                predictions[label][test] = make_pipeline(estimator).fit(X[train], y[train]).predict(X[test])
                advance()
    if candidates.combine and len(predictions) > 1:
        predictions["combined"] = np.mean(list(predictions.values()), axis=0)
    scores = {label: float(np.sqrt(np.mean([np.mean((p[test] - y[test]) ** 2) for _, test in folds])))
              for label, p in predictions.items()}
    best = min(scores, key=scores.__getitem__)
    if best == "combined":
        return best, VotingRegressor(list(candidates.estimators.items())), scores
    return best, candidates.estimators[best], scores


def fit_model(model: MLModel, df: pd.DataFrame, *, interval_level: float = 0.9, random_state: int = 0,
              progress: bool = False) -> FittedModel:
    """Validate ``df`` for ``model``, fit, evaluate on held-out rows and calibrate the interval."""
    if model.model_type not in MODEL_TYPES:
        raise ValidationFailed(f"model {model.name!r}: model_type {model.model_type!r} is not supported "
                               f"(supported: {list(MODEL_TYPES)})", details={"model_type": model.model_type})
    what = f"training data for {model.name!r}"
    check_frame(df, what)
    X = numeric_matrix(df, model.feature_columns, what)
    y = target_vector(df, model.target_column, what)
    check_rows(len(y), what)
    started = time.perf_counter()
    order = np.random.default_rng(random_state).permutation(len(y))
    n_hold = max(MIN_HOLDOUT_ROWS, round(HOLDOUT_SHARE * len(y)))
    hold, train = order[:n_hold], order[n_hold:]
    selection: dict[str, Any] | None = None
    estimator = model.model
    if isinstance(estimator, Candidates):
        chosen, estimator, scores = _choose(estimator, X[train], y[train], random_state, progress, model.name)
        selection = {"chosen": chosen, "cv_rmse": scores, "folds": model.model.cv}
    pipeline = make_pipeline(estimator)
    with _progress(progress, f"fitting {model.name}", 1) as advance:
        pipeline.fit(X[train], y[train])
        advance()
    predicted = np.asarray(pipeline.predict(X[hold]), dtype=np.float64)
    metrics = regression_metrics(y[hold], predicted)
    calibration = Calibration.from_residuals(y[hold] - predicted, predicted, interval_level,
                                             scale=float(np.mean(np.abs(y[train]))) or 1.0,
                                             floor=0.0 if float(y.min()) >= 0 else None)
    elapsed = time.perf_counter() - started
    metadata = {
        "model_name": model.name, "model_type": model.model_type, "data_type": model.training_data_type,
        "feature_columns": list(model.feature_columns), "target_column": model.target_column,
        "estimator": type(estimator).__name__, "selection": selection,
        "metrics": metrics, "interval_level": interval_level,
        "training_time_s": round(elapsed, 4), "n_rows": len(y), "n_train": len(train), "n_holdout": n_hold,
        "data_hash": data_hash(X, y), "library_versions": library_versions(),
        "trained_at": datetime.now(UTC).isoformat(),
        "feature_profile": feature_profile(X[train], model.feature_columns),
        "sample_rows": np.nan_to_num(X[train][:32]).tolist(),
    }
    fast = compile_pipeline(pipeline, X[train][:32])
    return FittedModel(pipeline=pipeline, calibration=calibration, metadata=metadata, fast=fast)
