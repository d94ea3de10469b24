"""``MLInventoryIntelligence``: the seed's ML API (train, predict, optimise, anomalies, report, models).

Models are scikit-learn pipelines trained on data added per data type; predictions carry split-conformal
intervals and are cached for ML_PREDICTION_CACHE_TTL seconds; every trained model is saved as a new
version under ML_MODEL_PATH (``autosave``) and can be reloaded or rolled back.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import replace
from os import PathLike
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import clone

from sync.errors import NotFitted, NotFound, SyncError, ValidationFailed
from sync.ml.anomalies import detect_anomalies as _detect_anomalies
from sync.ml.builtins import BUILTIN_DATA_TYPES, builtin_models
from sync.ml.cache import TTLCache
from sync.ml.optimize import Estimate, inventory_figures, number
from sync.ml.report import build_report
from sync.ml.store import ModelStore
from sync.ml.training import FittedModel, fit_model
from sync.ml.types import MLModel, PredictionResult
from sync.ml.validation import check_frame, check_name, feature_row, numeric_matrix
from sync.settings import Settings

log = logging.getLogger("sync.ml")
RECENT_ROWS = 5000
#: rows held per data type (appends past it are refused, so repeated uploads cannot exhaust memory)
MAX_TRAINING_ROWS = 2_000_000


class FeatureUnavailable(SyncError):
    status = 501
    code = "not_available"


class MLInventoryIntelligence:
    """The ML system of the seed.

    Parameters
    ----------
    model_path : where versions are saved (default: ``Settings().ML_MODEL_PATH``).
    settings : configuration (default: read from the environment).
    autosave : save every trained model as a new version.
    progress : show progress bars while training (for the CLI).
    interval_level : nominal coverage of ``PredictionResult.lower``/``upper``.

    Examples
    --------
    >>> ml = MLInventoryIntelligence(autosave=False)
    >>> sorted(ml.models)
    ['demand_forecast', 'lead_time_prediction', 'price_optimization']
    """

    def __init__(self, model_path: str | PathLike[str] | None = None, *, settings: Settings | None = None,
                 autosave: bool = True, progress: bool = False, interval_level: float = 0.9,
                 random_state: int = 0, trusted_types: frozenset[str] = frozenset()) -> None:
        if not 0 < interval_level < 1:
            raise ValidationFailed("interval_level must be in (0, 1)", details={"interval_level": interval_level})
        self.settings = settings or Settings()
        self.model_path = Path(model_path) if model_path is not None else self.settings.ML_MODEL_PATH
        key = self.settings.ML_MODEL_SIGNING_KEY
        self.store = ModelStore(self.model_path, signing_key=key.get_secret_value().encode() if key else None,
                                extra_trusted_types=trusted_types)
        self.autosave = autosave
        self.progress = progress
        self.interval_level = interval_level
        self.random_state = random_state
        self.anomaly_threshold = self.settings.ML_ANOMALY_THRESHOLD
        self.models: dict[str, MLModel] = builtin_models(random_state)
        self.training_data: dict[str, pd.DataFrame] = {}
        self.cache = TTLCache(self.settings.ML_PREDICTION_CACHE_TTL)
        self._recent: dict[str, deque[tuple[float, ...]]] = {}
        self.ab_tests: dict[str, Any] = {}  # model name -> sync.ml.ab.ABTest
        self.learner: Any = None  # sync.ml.learning.ContinuousLearner, when the service runs one
        self._train_lock = threading.Lock()
        self._debug = False

    # --- configuration ------------------------------------------------------------------
    @property
    def debug_mode(self) -> bool:
        return self._debug

    @debug_mode.setter
    def debug_mode(self, value: bool) -> None:
        """True logs every prediction at DEBUG level on the ``sync.ml`` logger (configure logging to see it).

        Only this instance is affected: no logger levels or other global state are changed.
        """
        self._debug = bool(value)

    @property
    def data_types(self) -> list[str]:
        """The data types the models train on by default: the built-ins' and each custom model's."""
        known = set(BUILTIN_DATA_TYPES)
        known.update(m.training_data_type for m in self.models.values())
        return sorted(known)

    def model(self, name: str) -> MLModel:
        """The model called ``name`` (trained or not); ``NotFound`` naming the known ones otherwise."""
        model = self.models.get(name) if isinstance(name, str) else None
        if model is None:
            raise NotFound(f"unknown model {name!r}", details={"model_name": name, "known": sorted(self.models)})
        return model

    def served(self, name: str) -> FittedModel | None:
        """The trained version ``name`` serves, or None when it has none (or there is no such model)."""
        model = self.models.get(name) if isinstance(name, str) else None
        fitted: FittedModel | None = None if model is None else model.fitted_
        return fitted

    def fitted(self, name: str) -> FittedModel:
        """The trained version ``name`` serves: ``NotFound`` for an unknown model, ``NotFitted`` (409) for one
        not trained yet. The one place that says a model is not trained; callers that can do without one
        ask :meth:`served`."""
        fitted: FittedModel | None = self.model(name).fitted_
        if fitted is None:
            raise NotFitted(f"model {name!r} is not trained yet: add training data and call train_model",
                            details={"model_name": name})
        return fitted

    # --- training -------------------------------------------------------------------------
    def add_training_data(self, data_type: str, df: pd.DataFrame) -> int:
        """Append ``df`` to the training data of ``data_type``; returns the rows now held for it.

        Any data type name is accepted (a custom model may train on its own); its columns are checked
        against the model when ``train_model`` uses it.
        """
        check_name(data_type, "data_type")
        check_frame(df, f"training data for {data_type!r}")
        held = self.training_data.get(data_type)
        total = len(df) + (0 if held is None else len(held))
        if total > MAX_TRAINING_ROWS:
            raise ValidationFailed(
                f"training data for {data_type!r} would hold {total} rows, more than {MAX_TRAINING_ROWS}; "
                "replace it instead of appending", details={"rows": total, "maximum": MAX_TRAINING_ROWS})
        self.training_data[data_type] = df.copy() if held is None else pd.concat([held, df], ignore_index=True)
        return len(self.training_data[data_type])

    def train_model(self, model_name: str, data_type: str | None = None, *, progress: bool | None = None,
                    source: str | None = None) -> bool:
        """Fit ``model_name`` on the data added for ``data_type`` (default: the model's own data type).

        Returns True once the model is trained (and saved, with ``autosave``); bad input raises
        ``ValidationFailed`` naming the problem, an unknown model ``NotFound``. ``source`` (e.g.
        ``"purchase orders (40)"``) is kept in the metadata as ``training_data_source``.
        """
        model = self.model(model_name)
        data_type = data_type or model.training_data_type
        check_name(data_type, "data_type")
        if data_type not in self.training_data:
            raise ValidationFailed(
                f"no training data for data type {data_type!r}; add it with add_training_data",
                details={"data_type": data_type, "added": sorted(self.training_data), "known": self.data_types},
            )
        with self._train_lock:
            fitted = fit_model(model, self.training_data[data_type], interval_level=self.interval_level,
                               random_state=self.random_state,
                               progress=self.progress if progress is None else progress)
            fitted.metadata["model_name"] = model_name
            fitted.metadata["training_data_source"] = source or "added training data"
            if self.autosave:
                fitted.version = self.store.save(model_name, fitted.pipeline, fitted.saved_metadata())
            self._install(model_name, model, fitted)
        log.debug("trained %s (%s) in %.3fs: %s", model_name, fitted.version_label,
                  fitted.metadata["training_time_s"], fitted.metadata["metrics"])
        return True

    def _install(self, name: str, model: MLModel, fitted: FittedModel) -> None:
        model.fitted_ = fitted
        self._recent[name] = deque(maxlen=RECENT_ROWS)

    # --- persistence ----------------------------------------------------------------------
    def save_model(self, model_name: str) -> int:
        """Save the trained model as a new version (train_model does this itself with ``autosave``)."""
        fitted = self.fitted(model_name)
        with self._train_lock:
            fitted.version = self.store.save(model_name, fitted.pipeline, fitted.saved_metadata())
        return fitted.version

    def load_model(self, model_name: str, version: int | None = None) -> int:
        """Load a saved version (default: the current one), verified, and serve it; returns its number."""
        pipeline, meta = self.store.load(model_name, version)
        fitted = FittedModel.from_saved(pipeline, meta)
        model = self.models.get(model_name)
        if model is None:
            final = pipeline.steps[-1][1] if hasattr(pipeline, "steps") else pipeline
            model = MLModel(model_name, meta["model_type"], clone(final), list(meta["feature_columns"]),
                            meta["target_column"], data_type=meta.get("data_type"))
            self.models[model_name] = model
        self._install(model_name, model, fitted)
        assert fitted.version is not None
        return fitted.version

    def load_saved_models(self) -> dict[str, int]:
        """Load the current version of every model saved under ``model_path``."""
        loaded: dict[str, int] = {}
        if not self.model_path.is_dir():
            return loaded
        for folder in sorted(p for p in self.model_path.iterdir() if p.is_dir()):
            if self.store.versions(folder.name):
                loaded[folder.name] = self.load_model(folder.name)
        return loaded

    def model_versions(self, model_name: str) -> list[dict[str, Any]]:
        """Saved versions of a model: number, when trained, held-out metrics, and which one is current."""
        current = self.store.current_version(model_name)
        out = []
        for version in self.store.versions(model_name):
            meta = self.store.metadata(model_name, version)
            out.append({"version": version, "current": version == current, "trained_at": meta.get("trained_at"),
                        "metrics": meta.get("metrics"), "data_hash": meta.get("data_hash"),
                        "estimator": meta.get("estimator")})
        return out

    def rollback_model(self, model_name: str, version: int | None = None) -> int:
        """Serve an earlier saved version (default: the one before the current); returns it."""
        target = self.store.rollback(model_name, version)
        return self.load_model(model_name, target)

    # --- prediction -----------------------------------------------------------------------
    def predict(self, model_name: str, features: Mapping[str, Any]) -> PredictionResult:
        """Predict one row; ``features`` maps each of the model's feature columns to a number."""
        fitted = self.fitted(model_name)
        row = feature_row(features, fitted.metadata["feature_columns"], model_name)
        key = (model_name, fitted.uid, row)
        hit = self.cache.get(key)
        if hit is not None:
            self._remember(model_name, row)
            cached: PredictionResult = replace(hit, cached=True)
            return cached
        value = float(fitted.predict_matrix(np.array([row], dtype=np.float64))[0])
        lower, upper = fitted.calibration.interval(value)
        result = PredictionResult(prediction=value, confidence=fitted.calibration.confidence(value), lower=lower,
                                  upper=upper, model_version=fitted.version_label, model_name=model_name)
        self.cache.put(key, result)
        self._remember(model_name, row)
        if self._debug:
            log.debug("predict %s %s -> %s", model_name, row, result)
        return result

    def predict_batch(self, model_name: str, rows: pd.DataFrame | Sequence[Mapping[str, Any]]
                      ) -> list[PredictionResult]:
        """Predict many rows in one vectorised call (a DataFrame or a list of feature mappings)."""
        fitted = self.fitted(model_name)
        columns = fitted.metadata["feature_columns"]
        if isinstance(rows, pd.DataFrame):
            check_frame(rows, f"rows for {model_name!r}")
            X = numeric_matrix(rows, columns, f"rows for {model_name!r}")
            nan = [c for i, c in enumerate(columns) if np.isnan(X[:, i]).any()]
            if nan:
                raise ValidationFailed(f"rows for {model_name!r}: columns {nan} have missing values",
                                       details={"missing_values": nan})
        else:
            if not rows:
                raise ValidationFailed(f"rows for {model_name!r} is empty")
            X = np.array([feature_row(r, columns, model_name) for r in rows], dtype=np.float64)
        values = fitted.predict_matrix(X)
        confidences = fitted.calibration.confidences(values)
        lower, upper = fitted.calibration.intervals(values)
        for row in X[-RECENT_ROWS:]:
            self._remember(model_name, tuple(row))
        return [PredictionResult(prediction=float(v), confidence=float(c), lower=float(lo), upper=float(hi),
                                 model_version=fitted.version_label, model_name=model_name)
                for v, c, lo, hi in zip(values, confidences, lower, upper, strict=True)]

    def _remember(self, name: str, row: tuple[float, ...]) -> None:
        buffer = self._recent.get(name)
        if buffer is not None:
            buffer.append(row)

    # --- inventory --------------------------------------------------------------------------
    def _estimate(self, model_name: str, sku_data: Mapping[str, Any], fallback: Estimate) -> Estimate:
        fitted = self.served(model_name)
        if fitted is None:
            return fallback
        missing = [c for c in fitted.metadata["feature_columns"] if c not in sku_data or sku_data[c] is None]
        if missing:  # the model cannot run on this SKU: use the fallback and say why
            return replace(fallback, source=f"{fallback.source} ({model_name} needs {missing})")
        result = self.predict(model_name, sku_data)
        rmse = fitted.metadata["metrics"]["rmse"]
        return Estimate(result.prediction, rmse, f"model:{model_name}@{result.model_version}")

    def optimize_inventory_with_ml(self, sku_data: Mapping[str, Any]) -> dict[str, Any]:
        """Order quantity, safety stock, reorder point and price for one SKU (see docs/ml.md).

        Each figure comes from a trained model when there is one, else from a documented fallback;
        ``result["sources"]`` says which.
        """
        if not isinstance(sku_data, Mapping):
            raise ValidationFailed("sku_data must be a mapping of field -> number")
        historical = number(sku_data, "historical_demand", minimum=0.0)
        if historical is None and self.served("demand_forecast") is None:
            raise ValidationFailed("sku_data lacks 'historical_demand' and demand_forecast is not trained",
                                   details={"missing": ["historical_demand"]})
        demand = self._estimate("demand_forecast", sku_data, Estimate(
            historical or 0.0, number(sku_data, "demand_std", minimum=0.0), "fallback:sku_data.historical_demand"))
        lead_days = number(sku_data, "lead_time", None, minimum=0.0)
        lead_time = self._estimate("lead_time_prediction", sku_data, Estimate(
            lead_days if lead_days is not None else 7.0, number(sku_data, "lead_time_std", minimum=0.0),
            "fallback:sku_data.lead_time" if lead_days is not None else "fallback:default 7 days"))
        price = self._price(sku_data)
        return inventory_figures(sku_data, demand, lead_time, price)

    def _price(self, sku_data: Mapping[str, Any]) -> Estimate:
        cost = number(sku_data, "cost", minimum=0.0)
        fitted = self.served("price_optimization")
        if fitted is not None and all(sku_data.get(c) is not None for c in fitted.metadata["feature_columns"]):
            estimate = self._estimate("price_optimization", sku_data, Estimate(0.0, None, ""))
            if cost is not None and estimate.value < cost:
                return Estimate(cost, estimate.sd, f"{estimate.source} (raised to cost)")
            return estimate
        why = "price_optimization not trained" if fitted is None else (
            "price_optimization needs "
            f"{[c for c in fitted.metadata['feature_columns'] if sku_data.get(c) is None]}")
        current = number(sku_data, "price", minimum=0.0)
        if current is not None:
            return Estimate(current, None, f"fallback:sku_data.price ({why})")
        competitor = number(sku_data, "competitor_price", minimum=0.0)
        if competitor is not None:
            return Estimate(competitor, None, f"fallback:sku_data.competitor_price ({why})")
        raise ValidationFailed(f"{why} and sku_data has no 'price' or 'competitor_price' to fall back on",
                               details={"missing": ["price"]})

    def detect_anomalies(self, df: pd.DataFrame, columns: Sequence[str]) -> list[dict[str, Any]]:
        """Rows an Isolation Forest (contamination ML_ANOMALY_THRESHOLD) finds unusual in ``columns``."""
        return _detect_anomalies(df, columns, contamination=self.anomaly_threshold,
                                 random_state=self.random_state)

    # --- report ---------------------------------------------------------------------------
    def generate_ml_report(self, recent_data: Mapping[str, pd.DataFrame] | None = None) -> dict[str, Any]:
        """Per-model held-out metrics, training facts and drift against recently predicted rows.

        ``recent_data`` (model name -> frame) replaces the rows seen by ``predict`` for the drift figures.
        """
        recent: dict[str, np.ndarray | None] = {}
        for name, model in self.models.items():
            if model.fitted_ is None:
                continue
            columns = model.fitted_.metadata["feature_columns"]
            if recent_data is not None and name in recent_data:
                recent[name] = numeric_matrix(check_frame(recent_data[name], f"recent data for {name!r}"),
                                              columns, f"recent data for {name!r}")
            else:
                buffer = self._recent.get(name)
                recent[name] = np.array(list(buffer), dtype=np.float64) if buffer else None
        fitted = {name: model.fitted_ for name, model in self.models.items()}
        report = build_report(fitted, recent, self.anomaly_threshold)
        report["ab_tests"] = {name: test.summary() for name, test in self.ab_tests.items()}
        if self.learner is not None:
            report["continuous_learning"] = self.learner.status()
        return report

    # --- time series (delegated) -------------------------------------------------------------
    def forecast_demand(self, history: pd.DataFrame, horizon: int, freq: str = "W-SUN",
                        quantiles: Sequence[float] = (0.9,), *, progress: bool | None = None) -> pd.DataFrame:
        """Per-SKU forecasts from long-format history (see ``sync.ml.forecasting.forecast_demand``)."""
        return _forecasting().forecast_demand(history, horizon, freq=freq, quantiles=quantiles,
                                              progress=self.progress if progress is None else progress)

    def backtest(self, history: pd.DataFrame, horizon: int, windows: int, freq: str = "W-SUN", *,
                 progress: bool | None = None) -> Any:
        """Rolling-origin metrics of every candidate and baseline (``sync.ml.forecasting.backtest``)."""
        return _forecasting().backtest(history, horizon, windows, freq,
                                       progress=self.progress if progress is None else progress)

    # --- replenishment (delegated) -----------------------------------------------------------
    def plan_replenishment(self, history: pd.DataFrame, *, service_level: Any = 0.95, lead_time: Any = 2,
                           review_period: int = 1, unit_cost: Any = None, ordering_cost: Any = None,
                           holding_cost_rate: Any = 0.25, freq: str = "W-SUN", **options: Any) -> pd.DataFrame:
        """Reorder point and order-up-to level per SKU for a target fill rate (docs/replenishment.md).

        Options: ``lead_time_sd``, ``class_service_levels``, ``plan_periods``, ``forecaster``
        (see ``sync.ml.replenishment.plan_replenishment``).
        """
        from sync.ml.replenishment import plan_replenishment

        return plan_replenishment(history, service_level=service_level, lead_time=lead_time,
                                  review_period=review_period, unit_cost=unit_cost, ordering_cost=ordering_cost,
                                  holding_cost_rate=holding_cost_rate, freq=freq, **options)

    def simulate_policy(self, history: pd.DataFrame, **options: Any) -> Any:
        """Replay our policy and the textbook rule over a stretch of history (``sync.ml.replenishment``)."""
        from sync.ml.replenishment import simulate_policy

        return simulate_policy(history, **options)


def _forecasting() -> Any:
    try:
        import sync.ml.forecasting as forecasting
    except ImportError as exc:
        raise FeatureUnavailable("time-series forecasting is not installed in this build") from exc
    if not hasattr(forecasting, "forecast_demand") or not hasattr(forecasting, "backtest"):
        raise FeatureUnavailable("time-series forecasting is not available in this build")
    return forecasting
