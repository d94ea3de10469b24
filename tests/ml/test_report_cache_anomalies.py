"""The report (metrics, accuracy, drift), the prediction cache and anomaly detection."""

from __future__ import annotations

import numpy as np
import pytest

from sync.ml import MLInventoryIntelligence
from sync.ml.cache import TTLCache
from sync.settings import Settings
from tests.ml.data import demand_frame

ROW = {"historical_demand": 120, "seasonality": 0.5, "trend": 10, "price": 50, "promotions": 1}


@pytest.mark.slow
def test_report_has_held_out_metrics_and_defined_accuracy(trained: MLInventoryIntelligence) -> None:
    report = trained.generate_ml_report()
    accuracies = []
    for section in report["models"].values():
        assert section["trained"]
        assert {"mae", "rmse", "r2", "wape", "mape"} <= set(section["metrics"])
        assert section["n_holdout"] >= 10 and section["n_train"] + section["n_holdout"] == section["n_rows"]
        assert section["training_time_s"] > 0 and section["version"] == "v1"
        assert section["library_versions"]["scikit-learn"]
        accuracies.append(max(0.0, 1 - section["metrics"]["wape"]))
    assert report["overall_performance"]["average_accuracy"] == pytest.approx(np.mean(accuracies))


def test_untrained_models_are_listed_as_such(ml: MLInventoryIntelligence) -> None:
    report = ml.generate_ml_report()
    assert report["models"]["demand_forecast"] == {"trained": False}
    assert report["overall_performance"]["average_accuracy"] is None


@pytest.mark.slow
def test_drift_is_stable_for_same_distribution_and_flags_a_shifted_feature(ml: MLInventoryIntelligence) -> None:
    ml.add_training_data("demand", demand_frame(1000, seed=0))
    ml.train_model("demand_forecast")
    assert ml.generate_ml_report()["models"]["demand_forecast"]["drift"]["status"] == "insufficient_data"
    same = demand_frame(500, seed=1)
    drift = ml.generate_ml_report({"demand_forecast": same})["models"]["demand_forecast"]["drift"]
    assert max(drift["psi"][c] for c in ("historical_demand", "price")) < 0.1
    shifted = same.assign(price=same.price * 3)
    ml.predict_batch("demand_forecast", shifted)  # recently seen rows are what drift is measured on
    drift = ml.generate_ml_report()["models"]["demand_forecast"]["drift"]
    assert drift["status"] == "major" and drift["psi"]["price"] > 0.25
    assert drift["psi"]["historical_demand"] < 0.1 and drift["recent_rows"] == 500


@pytest.mark.slow
def test_predictions_are_cached_per_model_version(ml: MLInventoryIntelligence) -> None:
    ml.add_training_data("demand", demand_frame(200))
    ml.train_model("demand_forecast")
    first = ml.predict("demand_forecast", ROW)
    again = ml.predict("demand_forecast", ROW)
    assert not first.cached and again.cached and again.prediction == first.prediction
    ml.train_model("demand_forecast")  # a new version is never answered from the old one's cache
    newer = ml.predict("demand_forecast", ROW)
    assert not newer.cached and newer.model_version == "v2"


@pytest.mark.slow
def test_cache_ttl_zero_turns_caching_off(tmp_path) -> None:  # type: ignore[no-untyped-def]
    ml = MLInventoryIntelligence(settings=Settings(ML_MODEL_PATH=tmp_path, ML_PREDICTION_CACHE_TTL=0))
    ml.add_training_data("demand", demand_frame(200))
    ml.train_model("demand_forecast")
    ml.predict("demand_forecast", ROW)
    assert not ml.predict("demand_forecast", ROW).cached


def test_cache_entries_expire_after_the_ttl() -> None:
    now = [0.0]
    cache = TTLCache(ttl=300, maxsize=2, clock=lambda: now[0])
    cache.put("a", 1)
    now[0] = 299.0
    assert cache.get("a") == 1
    now[0] = 300.0
    assert cache.get("a") is None
    cache.put("a", 1), cache.put("b", 2), cache.put("c", 3)
    assert len(cache) == 2 and cache.get("a") is None  # least recently used dropped


@pytest.mark.slow
def test_anomalies_use_the_configured_contamination_and_find_outliers(tmp_path) -> None:  # type: ignore[no-untyped-def]
    df = demand_frame(400, seed=4)
    df.loc[[10, 20, 30], "historical_demand"] = [400.0, -200.0, 500.0]
    ml = MLInventoryIntelligence(settings=Settings(ML_MODEL_PATH=tmp_path, ML_ANOMALY_THRESHOLD=0.02))
    found = ml.detect_anomalies(df, ["historical_demand", "price"])
    assert len(found) == 8  # 2% of 400
    assert {10, 20, 30} <= {a["index"] for a in found[:3]}
    assert found[0]["score"] >= found[-1]["score"]
    assert set(found[0]["values"]) == {"historical_demand", "price"}


@pytest.mark.slow
def test_debug_mode_logs_predictions(trained: MLInventoryIntelligence, caplog: pytest.LogCaptureFixture) -> None:
    trained.debug_mode = True
    try:
        with caplog.at_level("DEBUG", logger="sync.ml"):
            trained.predict("demand_forecast", dict(ROW, trend=11.5))
        assert any("predict demand_forecast" in r.getMessage() for r in caplog.records)
    finally:
        trained.debug_mode = False
