"""Held-out regression metrics, the report's definition of accuracy, and the ML service's Prometheus metrics."""

from __future__ import annotations

import logging
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterator, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

import numpy as np
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from sync.errors import ValidationFailed
from sync.ml.drift import MIN_RECENT_ROWS
from sync.ml.validation import numeric_matrix, target_vector
from sync.web.metrics import Histogram, histogram_family

if TYPE_CHECKING:
    import pandas as pd

    from sync.ml.intelligence import MLInventoryIntelligence


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


# --- Prometheus: what the ML service exports at GET /metrics ---------------------------------------

log = logging.getLogger("sync.ml.metrics")

#: Attempts to copy the recent-rows buffers when a prediction thread appends during the copy.
_REPORT_ATTEMPTS = 5


class MLMetrics(Collector):
    """Prediction counts and latency (timed here), and the model report's figures read at scrape time.

    ``ml_model_accuracy{source="holdout"}`` is the report's accuracy (1 - WAPE on the rows held out at
    training); ``source="actuals"`` is the serving model's 1 - WAPE on the last rows of actuals it was
    sent (``POST /train`` with data, or ``add_training_data``), scored before it learns from them.
    """

    def __init__(self, ml: MLInventoryIntelligence, clock: Callable[[], float] = time.time) -> None:
        self.ml = ml
        self.clock = clock
        self.predictions: defaultdict[tuple[str, str], int] = defaultdict(int)  # model, cached
        self.errors: defaultdict[str, int] = defaultdict(int)
        self.latency: defaultdict[tuple[str, str], Histogram] = defaultdict(Histogram)  # model, kind
        self.actuals: dict[str, tuple[float | None, int, float]] = {}  # model -> accuracy, rows, when
        self._lock = threading.Lock()  # predict_batch and slow predicts run in the thread pool

    # --- hooks -------------------------------------------------------------------------------
    def wrap(self) -> None:
        """Time ``predict``/``predict_batch`` and score ``add_training_data``'s rows on this instance."""
        ml = self.ml
        predict, predict_batch, add = ml.predict, ml.predict_batch, ml.add_training_data

        def timed_predict(model_name: str, features: Mapping[str, Any]) -> Any:
            started = time.perf_counter()
            try:
                result = predict(model_name, features)
            except Exception:
                self._error(model_name)
                raise
            elapsed = time.perf_counter() - started
            with self._lock:
                self.latency[(model_name, "single")].observe(elapsed)
                self.predictions[(model_name, "true" if result.cached else "false")] += 1
            return result

        def timed_batch(model_name: str, rows: Any) -> Any:
            started = time.perf_counter()
            try:
                results = predict_batch(model_name, rows)
            except Exception:
                self._error(model_name)
                raise
            elapsed = time.perf_counter() - started
            with self._lock:
                self.latency[(model_name, "batch")].observe(elapsed)
                self.predictions[(model_name, "false")] += len(results)
            return results

        def scored_add(data_type: str, df: pd.DataFrame) -> int:
            self.score_actuals(data_type, df)
            return add(data_type, df)

        ml.predict = timed_predict  # type: ignore[method-assign]
        ml.predict_batch = timed_batch  # type: ignore[method-assign]
        ml.add_training_data = scored_add  # type: ignore[method-assign]

    def _error(self, model_name: str) -> None:
        if model_name in self.ml.models:  # unknown names are the client's typo: no label for them
            with self._lock:
                self.errors[model_name] += 1

    def score_actuals(self, data_type: str, df: Any) -> None:
        """Accuracy of each trained model that learns from ``data_type`` on these rows (when they fit it)."""
        for name, model in list(self.ml.models.items()):
            fitted = model.fitted_
            if fitted is None or model.training_data_type != data_type:
                continue
            columns = fitted.metadata["feature_columns"]
            target = fitted.metadata.get("target_column", model.target_column)
            try:
                X = numeric_matrix(df, columns, "actuals")
                y = target_vector(df, target, "actuals")
            except (ValidationFailed, KeyError, TypeError, ValueError, AttributeError):
                continue  # rows the model cannot score; add_training_data reports the problem itself
            usable = ~np.isnan(X).any(axis=1)
            if not usable.any():
                continue
            predicted = fitted.predict_matrix(X[usable])
            score = accuracy(regression_metrics(y[usable], predicted))
            self.actuals[name] = (score, int(usable.sum()), self.clock())

    # --- scrape --------------------------------------------------------------------------------
    def _report(self) -> dict[str, Any]:
        for _ in range(_REPORT_ATTEMPTS):
            try:
                return self.ml.generate_ml_report()
            except RuntimeError:  # a deque appended to while copied: try again
                continue
            except Exception:  # the request counters must still be served
                log.exception("ML report for /metrics failed")
                break
        return {"models": {}}

    def collect(self) -> Iterator[Metric]:
        counts = CounterMetricFamily("ml_predictions", "Rows predicted, by model and cache hit.",
                                     labels=["model", "cached"])
        for (model, cached), n in list(self.predictions.items()):
            counts.add_metric([model, cached], n)
        yield counts
        errors = CounterMetricFamily("ml_prediction_errors", "Prediction calls that failed, by model.",
                                     labels=["model"])
        for model, n in list(self.errors.items()):
            errors.add_metric([model], n)
        yield errors
        yield histogram_family("ml_prediction_duration_seconds", "Time of one predict (single) or predict_batch "
                               "(batch) call inside the service.", ["model", "kind"], list(self.latency.items()))

        now = self.clock()
        trained = GaugeMetricFamily("ml_model_trained", "1 when the model is trained and serving.", labels=["model"])
        info = GaugeMetricFamily("ml_model_info", "The serving version of each trained model (always 1).",
                                 labels=["model", "version"])
        acc = GaugeMetricFamily("ml_model_accuracy", "1 - WAPE, clipped to [0, 1]: on held-out rows at training "
                                "(source=holdout) or on the last actuals sent (source=actuals).",
                                labels=["model", "source"])
        actual_rows = GaugeMetricFamily("ml_model_actuals_rows", "Rows in the last batch of actuals scored.",
                                        labels=["model"])
        trained_at = GaugeMetricFamily("ml_model_trained_timestamp_seconds", "When the serving model was trained.",
                                       labels=["model"])
        age = GaugeMetricFamily("ml_training_data_age_seconds", "Seconds since the serving model was trained "
                                "on its data.", labels=["model"])
        drift = GaugeMetricFamily("ml_feature_drift_psi", "Population stability index of each feature: recent "
                                  "prediction rows against the training data (>0.25: major shift).",
                                  labels=["model", "feature"])
        recent = GaugeMetricFamily("ml_drift_recent_rows", "Recent prediction rows the drift figures use "
                                   f"(none below {MIN_RECENT_ROWS}).", labels=["model"])
        for name, section in self._report().get("models", {}).items():
            trained.add_metric([name], 1 if section.get("trained") else 0)
            if not section.get("trained"):
                continue
            info.add_metric([name, str(section.get("version"))], 1)
            if section.get("accuracy") is not None:
                acc.add_metric([name, "holdout"], section["accuracy"])
            if name in self.actuals:
                score, rows, _ = self.actuals[name]
                if score is not None:
                    acc.add_metric([name, "actuals"], score)
                actual_rows.add_metric([name], rows)
            stamp = _timestamp(section.get("trained_at"))
            if stamp is not None:
                trained_at.add_metric([name], stamp)
                age.add_metric([name], max(0.0, now - stamp))
            report = section.get("drift") or {}
            recent.add_metric([name], report.get("recent_rows", 0))
            for feature, value in (report.get("psi") or {}).items():
                drift.add_metric([name, feature], value)
        yield from (trained, info, acc, actual_rows, trained_at, age, drift, recent)


def _timestamp(value: Any) -> float | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(str(value)).timestamp()
    except ValueError:
        return None


def instrument(app: Any, ml: MLInventoryIntelligence) -> MLMetrics:
    """Wire ``ml`` into the service's ``/metrics`` (call once the start-up training is done)."""
    metrics = MLMetrics(ml)
    metrics.wrap()
    service_metrics = getattr(app.state, "service_metrics", None)
    if service_metrics is not None:
        service_metrics.add_collector(metrics)
    return metrics
