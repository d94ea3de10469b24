"""The ML service's Prometheus metrics: prediction latency, accuracy on held-out rows and on recent actuals,
feature drift and training data age, each read from the real service."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from sync.ml.metrics import MLMetrics, accuracy, regression_metrics
from sync.settings import Settings
from tests.ml.data import lead_time_frame
from tests.ops.test_service_metrics import value

pytestmark = pytest.mark.slow
MODEL = "lead_time_prediction"


@pytest.fixture(scope="module")
def ml(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    from sync.ml.service import create_app

    root = tmp_path_factory.mktemp("ml")
    with TestClient(create_app(Settings(ML_MODEL_PATH=root / "models", ML_TRAINING_DATA_PATH=root / "data"))) as c:
        yield c


def metrics(client: TestClient) -> str:
    response = client.get("/metrics")
    assert response.status_code == 200
    return response.text


def test_predictions_are_counted_and_timed(ml: TestClient) -> None:
    row = lead_time_frame(1, seed=9).drop(columns="lead_time").to_dict("records")[0]
    before = metrics(ml)
    for _ in range(3):
        assert ml.post("/predict", json={"model_name": MODEL, "features": row}).status_code == 200
    assert ml.post("/predict", json={"model_name": MODEL, "features": {"x": 1}}).status_code == 422
    after = metrics(ml)

    def delta(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert delta("ml_predictions_total", model=MODEL) == 3
    assert delta("ml_predictions_total", model=MODEL, cached="true") == 2  # the same row again: cache hits
    assert delta("ml_prediction_duration_seconds_count", model=MODEL, kind="single") == 3
    assert delta("ml_prediction_errors_total", model=MODEL) == 1
    assert value(after, "ml_model_trained", model=MODEL) == 1


def test_accuracy_on_actuals_is_the_serving_models_score_before_it_learns_from_them(ml: TestClient) -> None:
    """Actuals whose lead times are twice what the model learned score far below its held-out accuracy."""
    import numpy as np

    ml_system = ml.app.state.ml  # type: ignore[attr-defined]
    serving = ml_system.models[MODEL].fitted_
    actuals = lead_time_frame(120, seed=11)
    actuals["lead_time"] *= 2
    columns = serving.metadata["feature_columns"]
    expected = accuracy(regression_metrics(actuals["lead_time"].to_numpy(),
                                           serving.predict_matrix(actuals[columns].to_numpy(dtype=np.float64))))
    response = ml.post("/train", json={"model_name": MODEL, "data": actuals.to_dict("records")})
    assert response.status_code == 200
    text = metrics(ml)
    scored = value(text, "ml_model_accuracy", model=MODEL, source="actuals")
    assert scored == pytest.approx(expected)
    assert scored < 0.8 * value(text, "ml_model_accuracy", model=MODEL, source="holdout")  # the alert's rule
    assert value(text, "ml_model_actuals_rows", model=MODEL) == 120


def test_drift_of_shifted_prediction_rows_is_exported(ml: TestClient) -> None:
    rows = lead_time_frame(60, seed=12).drop(columns="lead_time")
    rows["order_quantity"] += 5000  # far outside anything trained on
    response = ml.post("/predict/batch", json={"model_name": MODEL, "rows": rows.to_dict("records")})
    assert response.status_code == 200
    text = metrics(ml)
    assert value(text, "ml_feature_drift_psi", model=MODEL, feature="order_quantity") > 0.25
    assert value(text, "ml_feature_drift_psi", model=MODEL, feature="seasonality") < 0.25
    assert value(text, "ml_drift_recent_rows", model=MODEL) >= 60
    assert value(text, "ml_prediction_duration_seconds_count", model=MODEL, kind="batch") >= 1


def test_training_data_age_follows_the_clock(tmp_path: Path) -> None:
    from sync.ml import MLInventoryIntelligence

    system = MLInventoryIntelligence(settings=Settings(ML_MODEL_PATH=tmp_path / "models"))
    system.add_training_data("lead_time", lead_time_frame(100))
    system.train_model(MODEL, "lead_time")
    trained_at = datetime.fromisoformat(system.models[MODEL].fitted_.metadata["trained_at"]).timestamp()
    now = [trained_at + 31 * 86400]
    families = {f.name: f for f in MLMetrics(system, clock=lambda: now[0]).collect()}
    age = {s.labels["model"]: s.value for s in families["ml_training_data_age_seconds"].samples}
    assert age == {MODEL: pytest.approx(31 * 86400)}
    stamps = {s.labels["model"]: s.value for s in families["ml_model_trained_timestamp_seconds"].samples}
    assert stamps[MODEL] == pytest.approx(trained_at)
    untrained = {s.labels["model"]: s.value for s in families["ml_model_trained"].samples}
    assert untrained["demand_forecast"] == 0 and untrained[MODEL] == 1
