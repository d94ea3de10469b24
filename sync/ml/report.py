"""``generate_ml_report``: held-out metrics, training facts and feature drift per model.

``overall_performance.average_accuracy`` is the mean over trained models of (1 - WAPE) on each
model's held-out rows, clipped to [0, 1]; None when no model is trained.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import numpy as np

from sync.ml.drift import drift_report
from sync.ml.explain import global_importance
from sync.ml.metrics import accuracy
from sync.ml.training import FittedModel

ACCURACY_DEFINITION = "mean over trained models of max(0, 1 - WAPE) on held-out rows"


def model_section(fitted: FittedModel | None, recent: np.ndarray | None) -> dict[str, Any]:
    if fitted is None:
        return {"trained": False}
    meta = fitted.metadata
    columns = meta["feature_columns"]
    return {
        "trained": True,
        "version": fitted.version_label,
        "estimator": meta.get("estimator"),
        "selection": meta.get("selection"),
        "feature_columns": columns,
        "target_column": meta.get("target_column"),
        "metrics": meta["metrics"],
        "accuracy": accuracy(meta["metrics"]),
        "interval": {"level": fitted.calibration.level, "quantile": fitted.calibration.quantile,
                     "offset": fitted.calibration.offset,
                     "method": "normalised split conformal on held-out rows: ŷ ± quantile·(|ŷ| + offset)"},
        "training_time_s": meta.get("training_time_s"),
        "n_rows": meta.get("n_rows"), "n_train": meta.get("n_train"), "n_holdout": meta.get("n_holdout"),
        "data_hash": meta.get("data_hash"),
        "training_data_source": meta.get("training_data_source"),
        "trained_at": meta.get("trained_at"),
        "library_versions": meta.get("library_versions"),
        "drift": drift_report(meta.get("feature_profile") or {}, recent, columns),
        "feature_importance": global_importance(fitted),
    }


def build_report(fitted: Mapping[str, FittedModel | None], recent: Mapping[str, np.ndarray | None],
                 anomaly_contamination: float) -> dict[str, Any]:
    models = {name: model_section(f, recent.get(name)) for name, f in fitted.items()}
    scores = [m["accuracy"] for m in models.values() if m.get("trained") and m.get("accuracy") is not None]
    return {
        "generated_at": datetime.now(UTC).isoformat(),
        "models": models,
        "overall_performance": {
            "average_accuracy": float(np.mean(scores)) if scores else None,
            "models_trained": sum(1 for m in models.values() if m.get("trained")),
            "models_total": len(models),
            "definition": ACCURACY_DEFINITION,
        },
        "anomaly_detection": {"method": "isolation_forest", "contamination": anomaly_contamination},
    }
