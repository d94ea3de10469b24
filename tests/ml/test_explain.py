"""Explanations: exact Shapley values (additive, right on known functions), global importance in the report,
``POST /explain`` and ``POST /explain/forecast`` over real HTTP."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LinearRegression

from sync.ml import MLInventoryIntelligence, MLModel
from sync.ml.explain import explain_prediction, shapley_values
from sync.ml.forecasting.weekly import read_transactions, weekly_history
from sync.ml.service import create_app
from sync.settings import Settings
from tests.ml.data import FRAMES
from tests.ml.servers import serving


def test_shapley_values_of_known_functions() -> None:
    rng = np.random.default_rng(0)
    background = rng.normal(size=(20, 3))
    row = np.array([1.5, -2.0, 0.3])

    def linear(X: np.ndarray) -> np.ndarray:
        return 2 * X[:, 0] + 3 * X[:, 1] - X[:, 2]

    base, phi = shapley_values(linear, row, background)
    # a linear model's Shapley value is its coefficient times the distance from the background mean
    assert phi[0] == pytest.approx(np.array([2, 3, -1]) * (row - background.mean(axis=0)))
    assert base == pytest.approx(float(linear(background).mean()))

    def product(X: np.ndarray) -> np.ndarray:  # a pure interaction is shared equally by the two features
        return X[:, 0] * X[:, 1]

    _, phi = shapley_values(product, np.array([2.0, 2.0, 5.0]), np.zeros((1, 3)))
    assert phi[0] == pytest.approx([2.0, 2.0, 0.0])


@pytest.mark.slow
def test_contributions_add_up_to_the_prediction_for_every_builtin(trained: MLInventoryIntelligence) -> None:
    for name, data_type in [("demand_forecast", "demand"), ("lead_time_prediction", "lead_time"),
                            ("price_optimization", "pricing")]:
        fitted = trained.models[name].fitted_
        for features in FRAMES[data_type]().head(3).to_dict("records"):
            row = tuple(float(features[c]) for c in fitted.metadata["feature_columns"])
            out = explain_prediction(fitted, row)
            assert out["prediction"] == pytest.approx(trained.predict(name, features).prediction)
            assert out["base_value"] + sum(out["contributions"].values()) == pytest.approx(out["prediction"],
                                                                                           abs=1e-6)
            assert [t["feature"] for t in out["top"]] == sorted(
                out["contributions"], key=lambda c: -abs(out["contributions"][c]))


def test_report_ranks_the_feature_that_drives_the_target_first(settings: Settings) -> None:
    rng = np.random.default_rng(3)
    frame = pd.DataFrame({"a": rng.normal(size=300), "b": rng.normal(size=300), "c": rng.normal(size=300)})
    frame["y"] = 10 * frame.b + 0.5 * frame.a + rng.normal(0, 0.1, 300)
    ml = MLInventoryIntelligence(settings=settings, autosave=False)
    ml.models["custom"] = MLModel("custom", "regression", LinearRegression(), ["a", "b", "c"], "y")
    ml.add_training_data("custom", frame)
    ml.train_model("custom")
    importance = ml.generate_ml_report()["models"]["custom"]["feature_importance"]
    assert importance["ranking"] == ["b", "a", "c"]
    assert importance["shares"]["b"] > 0.9 and sum(importance["shares"].values()) == pytest.approx(1.0)


@pytest.mark.slow
def test_explain_routes_over_http(tmp_path: Path) -> None:
    settings = Settings(ML_MODEL_PATH=tmp_path / "models", ML_TRAINING_DATA_PATH=tmp_path / "data")
    features = {"historical_demand": 120, "seasonality": 0.5, "trend": 10, "price": 5, "promotions": 1}
    with serving(create_app(settings)) as ml:
        resp = ml.post("/explain", json={"model_name": "demand_forecast", "features": features})
        assert resp.status_code == 200, resp.text
        body = resp.json()
        predicted = ml.post("/predict", json={"model_name": "demand_forecast", "features": features}).json()
        assert body["prediction"] == pytest.approx(predicted["prediction"])
        assert body["base_value"] + sum(body["contributions"].values()) == pytest.approx(body["prediction"])
        assert body["model_version"] == predicted["model_version"] and len(body["top"]) == 5
        assert ml.get("/report").json()["models"]["demand_forecast"]["feature_importance"]["ranking"]

        missing = ml.post("/explain", json={"model_name": "demand_forecast", "features": {"price": 5}})
        assert missing.status_code == 422 and "historical_demand" in missing.json()["error"]["message"]
        unknown = ml.post("/explain", json={"model_name": "nope", "features": features})
        assert unknown.status_code == 404

        path = resources.files("sync") / "data" / "online_retail_sample.csv"
        with resources.as_file(path) as csv:
            history = weekly_history(read_transactions(csv))
        history = history[history.sku.isin(sorted(history.sku.unique())[:6])]
        rows = [{"sku": r.sku, "date": pd.Timestamp(r.date).date().isoformat(), "quantity": float(r.quantity)}
                for r in history.itertuples()]
        resp = ml.post("/explain/forecast", json={"history": rows, "horizon": 4})
        assert resp.status_code == 200, resp.text
        items = resp.json()["items"]
        assert len(items) == 6
        plain = ml.post("/forecast", json={"history": rows, "horizon": 4}).json()["items"]
        for item in items:
            assert item["segment"] in {"smooth", "erratic", "intermittent", "lumpy"} and item["why"]
            assert sum(item["blend"].values()) == pytest.approx(1.0)
            blended = sum(w * np.array(item["candidates"][name]) for name, w in item["blend"].items())
            assert item["forecast"] == pytest.approx(np.maximum(blended, 0.0).tolist())
            same = [p["forecast"] for p in plain if p["sku"] == item["sku"]]
            assert item["forecast"] == pytest.approx(same, rel=1e-6)
