"""The ML service over HTTP: startup training, the seed's predict body, validation and error shape."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from sync.ml.service import create_app
from sync.settings import Settings
from tests.ml.data import SKU_DATA, demand_frame
from tests.ml.servers import Client, serving

SEED_BODY = {"model_name": "demand_forecast",
             "features": {"historical_demand": 120, "seasonality": 0.5, "trend": 10, "price": 50, "promotions": 1}}


def make_settings(root: Path, **extra: object) -> Settings:
    return Settings(ML_MODEL_PATH=root / "models", ML_TRAINING_DATA_PATH=root / "data", **extra)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("ml-service")


@pytest.fixture(scope="module")
def client(root: Path) -> Iterator[Client]:
    with serving(create_app(make_settings(root))) as served:
        yield served


def assert_error(resp: object, status: int, *words: str) -> dict:
    assert resp.status_code == status, resp.text  # type: ignore[attr-defined]
    body = resp.json()  # type: ignore[attr-defined]
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "details"}
    for word in words:
        assert word in body["error"]["message"], body
    return body["error"]


@pytest.mark.slow
def test_first_start_trains_the_builtins_from_the_sample_and_saves_them(client: Client, root: Path) -> None:
    health = client.get("/health").json()
    assert health["status"] == "ok" and health["service"] == "ml"
    assert set(health["dependencies"]["models"]["models"]) == {
        "demand_forecast", "lead_time_prediction", "price_optimization"}
    for name in ("demand_forecast", "lead_time_prediction", "price_optimization"):
        assert (root / "models" / name / "v0001.skops").is_file()


@pytest.mark.slow
def test_seed_predict_body(client: Client) -> None:
    resp = client.post("/predict", json=SEED_BODY)
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert {"prediction", "confidence", "lower", "upper", "model_version"} <= set(body)
    assert body["lower"] <= body["prediction"] <= body["upper"] and 0 <= body["confidence"] <= 1
    assert body["model_version"] == "v1"


@pytest.mark.slow
def test_a_restart_serves_the_saved_models_without_retraining(client: Client, root: Path) -> None:
    before = client.post("/predict", json=SEED_BODY).json()
    with serving(create_app(make_settings(root))) as again:
        after = again.post("/predict", json=SEED_BODY).json()
        assert again.get("/health").json()["dependencies"]["models"]["models"]["demand_forecast"]["version"] == "v1"
    assert after["prediction"] == before["prediction"] and after["model_version"] == "v1"


@pytest.mark.parametrize(("body", "field"), [
    ({"model_name": "demand_forecast"}, "features"),
    ({"model_name": "demand_forecast", "features": {"price": "fifty"}}, "features.price"),
    ({"features": SEED_BODY["features"]}, "model_name"),
    ({"model_name": "../x", "features": SEED_BODY["features"]}, "model_name"),
])
@pytest.mark.slow
def test_predict_validation_names_the_field(client: Client, body: dict, field: str) -> None:
    error = assert_error(client.post("/predict", json=body), 422, field)
    assert any(d["field"] == field for d in error["details"])


@pytest.mark.slow
def test_predict_missing_feature_and_unknown_model(client: Client) -> None:
    features = {k: v for k, v in SEED_BODY["features"].items() if k != "promotions"}
    error = assert_error(client.post("/predict", json={"model_name": "demand_forecast", "features": features}),
                         422, "promotions")
    assert error["details"]["missing"] == ["promotions"]
    assert_error(client.post("/predict", json={"model_name": "nope", "features": {}}), 404, "nope")
    assert_error(client.post("/predict", data=b"{not json", headers={"content-type": "application/json"}), 422)


@pytest.mark.slow
def test_batch_prediction(client: Client) -> None:
    rows = demand_frame(5, seed=9).drop(columns="demand").to_dict("records")
    resp = client.post("/predict/batch", json={"model_name": "demand_forecast", "rows": rows})
    assert resp.status_code == 200, resp.text
    predictions = resp.json()["predictions"]
    single = client.post("/predict", json={"model_name": "demand_forecast", "features": rows[2]}).json()
    assert len(predictions) == 5 and predictions[2]["prediction"] == pytest.approx(single["prediction"])
    assert_error(client.post("/predict/batch", json={"model_name": "demand_forecast", "rows": []}), 422, "rows")


@pytest.mark.slow
def test_optimize_with_the_seed_sku_data(client: Client) -> None:
    resp = client.post("/optimize", json=SKU_DATA)
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["optimal_quantity"] > 0 and body["reorder_point"] > 0
    assert body["sources"]["predicted_demand"] == "model:demand_forecast@v1"
    assert_error(client.post("/optimize", json={**SKU_DATA, "holding_cost": None}), 422, "holding_cost")
    assert_error(client.post("/optimize", json={**SKU_DATA, "cost": "x"}), 422, "cost")


@pytest.mark.slow
def test_report_and_models(client: Client) -> None:
    report = client.get("/report").json()
    assert 0 <= report["overall_performance"]["average_accuracy"] <= 1
    assert report["models"]["demand_forecast"]["metrics"]["rmse"] > 0
    items = {m["name"]: m for m in client.get("/models").json()["items"]}
    assert items["lead_time_prediction"]["feature_columns"] == [
        "supplier_performance", "order_quantity", "supply_chain_health", "seasonality"]
    assert items["demand_forecast"]["saved_versions"][0]["current"]


@pytest.mark.slow
def test_anomalies(client: Client) -> None:
    rows = demand_frame(200, seed=2).to_dict("records")
    body = client.post("/anomalies", json={"rows": rows, "columns": ["historical_demand", "price"]}).json()
    assert body["count"] == 20 and body["contamination"] == 0.1
    assert_error(client.post("/anomalies", json={"rows": rows, "columns": ["nope"]}), 422, "nope")


@pytest.mark.slow
def test_train_with_rows_then_rollback_needs_admin(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, ADMIN_TOKEN="s3cret")
    with serving(create_app(settings)) as client:
        rows = demand_frame(200, seed=4).to_dict("records")
        resp = client.post("/train", json={"model_name": "demand_forecast", "data": rows, "replace": True})
        assert resp.status_code == 200, resp.text
        assert resp.json()["model_version"] == "v2" and resp.json()["rows"] == 200
        assert (tmp_path / "data" / "demand.csv").is_file()
        bad = [dict(r, price=None) for r in rows]
        assert_error(client.post("/train", json={"model_name": "demand_forecast", "data": bad, "replace": True}),
                     422, "price")
        assert len(client.app.state.ml.training_data["demand"]) == 200  # the failed request changed nothing
        assert_error(client.post("/train", json={"model_name": "demand_forecast", "data_type": "sales"}), 422,
                     "sales")
        assert_error(client.post("/models/demand_forecast/rollback"), 401)
        assert_error(client.post("/models/demand_forecast/rollback", headers={"Authorization": "Bearer no"}), 403)
        admin = {"Authorization": "Bearer s3cret"}
        resp = client.post("/models/demand_forecast/rollback", headers=admin)
        assert resp.status_code == 200, resp.text
        assert resp.json()["model_version"] == "v1"
        assert client.post("/predict", json=SEED_BODY).json()["model_version"] == "v1"
        assert_error(client.post("/models/demand_forecast/rollback", headers=admin, json={"version": 7}), 404)
        assert_error(client.post("/models/nope/rollback", headers=admin), 404, "nope")


@pytest.mark.slow
def test_a_tampered_saved_model_is_refused_on_start(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    with serving(create_app(settings)):
        pass  # first start: trains and saves v1 of each built-in
    artifact = tmp_path / "models" / "lead_time_prediction" / "v0001.skops"
    artifact.write_bytes(artifact.read_bytes()[:-10] + b"0123456789")
    with serving(create_app(settings)) as client:
        health = client.get("/health").json()
        assert health["status"] == "degraded"
        assert "SHA-256" in health["dependencies"]["models"]["models"]["lead_time_prediction"]["error"]
        assert_error(client.post("/predict", json={"model_name": "lead_time_prediction", "features": {
            "supplier_performance": 0.8, "order_quantity": 100, "supply_chain_health": 0.9, "seasonality": 0}}),
            409, "not trained")
        assert client.post("/predict", json=SEED_BODY).status_code == 200


def _history() -> list[dict]:
    import numpy as np

    rng = np.random.default_rng(0)
    return [{"sku": sku, "date": f"{d.date()}", "quantity": float(rng.poisson(5 + 3 * i))}
            for i, sku in enumerate(["A", "B"])
            for d in __import__("pandas").date_range("2023-01-01", periods=60, freq="W-SUN")]


@pytest.mark.slow
def test_forecast_endpoint(client: Client) -> None:
    resp = client.post("/forecast", json={"history": _history(), "horizon": 4})
    assert resp.status_code == 200, resp.text
    items = resp.json()["items"]
    assert len(items) == 8 and {"sku", "date", "forecast", "q90"} <= set(items[0])
    assert_error(client.post("/forecast", json={"history": _history(), "horizon": 0}), 422, "horizon")
    negative = _history()
    negative[3]["quantity"] = -2.0
    assert_error(client.post("/forecast", json={"history": negative, "horizon": 2}), 422, "history.3.quantity")


@pytest.mark.slow
def test_backtest_endpoint(client: Client) -> None:
    resp = client.post("/backtest", json={"history": _history(), "horizon": 4, "windows": 2})
    assert resp.status_code == 200, resp.text
    assert resp.json()["metrics"] and len(resp.json()["origins"]) == 2


@pytest.mark.slow
def test_an_unwritable_model_path_degrades_but_still_serves(tmp_path: Path) -> None:
    (tmp_path / "models").write_text("a file where the model directory should be")
    with serving(create_app(make_settings(tmp_path))) as client:
        health = client.get("/health").json()
        assert health["status"] == "degraded" and health["dependencies"]["model_store"]["status"] == "missing"
        resp = client.post("/predict", json=SEED_BODY)
        assert resp.status_code == 200 and resp.json()["model_version"].startswith("unsaved-")
