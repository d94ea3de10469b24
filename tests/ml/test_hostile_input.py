"""The ML service against hostile input: absurd numbers, absurd dates, unknown SKUs, colliding quantiles.

Each answer is a 4xx that names the field (or a finite 200), never a 500, a null where the schema
promises a number, or an internal address. The service runs on a real port; the unknown-SKU cases
ask a real inventory service.
"""

from __future__ import annotations

import json
import math
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from sync.errors import ValidationFailed
from sync.inventory.app import create_app as create_inventory
from sync.ml import MLInventoryIntelligence
from sync.ml.service import create_app
from sync.ml.validation import MAX_FEATURE_MAGNITUDE, check_quantiles
from sync.settings import Settings
from tests.ml.servers import Client, serving
from tests.serving import free_port, running

DEMAND = ["historical_demand", "seasonality", "trend", "price", "promotions"]
PRICING = ["historical_demand", "competitor_price", "cost", "seasonality", "inventory_level"]
ADMIN = {"Authorization": "Bearer hostile-admin"}


def settings_for(root: Path, inventory_url: str) -> Settings:
    return Settings(ML_MODEL_PATH=root / "models", ML_TRAINING_DATA_PATH=root / "data", INVENTORY_URL=inventory_url,
                    ADMIN_TOKEN="hostile-admin")  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("ml-hostile")


@pytest.fixture(scope="module")
def inventory_url(root: Path) -> Iterator[str]:
    settings = Settings(DATABASE_URL=f"sqlite:///{root / 'inventory.db'}", DEMO_DATA=False)
    with running(create_inventory(settings), free_port()) as url:
        yield url


@pytest.fixture(scope="module")
def client(root: Path, inventory_url: str) -> Iterator[Client]:
    with serving(create_app(settings_for(root, inventory_url))) as served:
        yield served


def error_of(resp: Any, status: int) -> dict[str, Any]:
    assert resp.status_code == status, resp.text
    body = resp.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "details"}
    return body["error"]  # type: ignore[no-any-return]


def fields(error: dict[str, Any]) -> list[str]:
    details = error["details"]
    return [d["field"] for d in details] if isinstance(details, list) else [details.get("field")]


def assert_no_internal_address(resp: Any) -> None:
    assert "127.0.0.1" not in resp.text and "http://" not in resp.text and "localhost" not in resp.text


# --- item 8: unknown SKU ------------------------------------------------------------------------

@pytest.mark.parametrize("path", ["/forecast", "/backtest"])
@pytest.mark.slow
def test_an_unknown_sku_is_a_404_naming_it_without_an_internal_address(client: Client, path: str) -> None:
    resp = client.post(path, json={"horizon": 4, "sku": "NO-SUCH-SKU"})
    error = error_of(resp, 404)
    assert error["code"] == "not_found" and "NO-SUCH-SKU" in error["message"]
    assert error["details"] == {"field": "sku", "sku": "NO-SUCH-SKU"}
    assert_no_internal_address(resp)


@pytest.mark.slow
def test_a_dead_inventory_is_a_503_without_its_address(root: Path, tmp_path: Path) -> None:
    shutil.copytree(root / "models", tmp_path / "models")  # loads the saved models instead of training
    dead = f"http://127.0.0.1:{free_port()}"
    with serving(create_app(settings_for(tmp_path, dead))) as served:
        for path in ("/forecast", "/backtest"):
            resp = served.post(path, json={"horizon": 4, "sku": "ANY"})
            error = error_of(resp, 503)
            assert "inventory service" in error["message"]
            assert_no_internal_address(resp)


# --- item 6: dates pandas cannot hold -------------------------------------------------------------

@pytest.mark.parametrize("day", ["0001-01-01", "1800-06-01", "9999-12-31", "2262-04-12"])
@pytest.mark.parametrize("path", ["/forecast", "/backtest"])
@pytest.mark.slow
def test_history_dates_outside_the_supported_range_are_a_422_naming_the_field(client: Client, path: str,
                                                                               day: str) -> None:
    history = [{"sku": "A", "date": "2024-01-07", "quantity": 1}, {"sku": "A", "date": day, "quantity": 2}]
    error = error_of(client.post(path, json={"horizon": 4, "history": history}), 422)
    assert fields(error) == ["history.1.date"]
    assert "1900-01-01" in error["message"]


# --- item 9 and strict numbers: features ----------------------------------------------------------

@pytest.mark.parametrize("value", [1e308, -1e308, MAX_FEATURE_MAGNITUDE * 10])
@pytest.mark.slow
def test_features_beyond_the_bound_are_a_422_naming_each_feature(client: Client, value: float) -> None:
    error = error_of(client.post("/predict", json={"model_name": "demand_forecast",
                                                   "features": dict.fromkeys(DEMAND, value)}), 422)
    assert sorted(fields(error)) == sorted(f"features.{name}" for name in DEMAND)
    error = error_of(client.post("/predict/batch", json={"model_name": "demand_forecast",
                                                         "rows": [dict.fromkeys(DEMAND, value)]}), 422)
    assert sorted(fields(error)) == sorted(f"rows.0.{name}" for name in DEMAND)


def _strict(resp: Any) -> Any:
    def refuse(token: str) -> None:
        raise AssertionError(f"non-finite {token}")

    return json.loads(resp.text, parse_constant=refuse)


@pytest.mark.parametrize(("model", "columns"), [("demand_forecast", DEMAND), ("price_optimization", PRICING)])
@pytest.mark.parametrize("value", [MAX_FEATURE_MAGNITUDE, -MAX_FEATURE_MAGNITUDE])
@pytest.mark.slow
def test_features_at_the_bound_give_finite_numbers_never_null(client: Client, model: str, columns: list[str],
                                                              value: float) -> None:
    resp = client.post("/predict", json={"model_name": model, "features": dict.fromkeys(columns, value)})
    assert resp.status_code == 200, resp.text
    body = _strict(resp)
    for key in ("prediction", "lower", "upper", "confidence"):
        assert isinstance(body[key], float) and math.isfinite(body[key]), (key, body)
    resp = client.post("/predict/batch", json={"model_name": model, "rows": [dict.fromkeys(columns, value)]})
    assert resp.status_code == 200, resp.text
    assert all(math.isfinite(v) for v in _strict(resp)["predictions"][0].values())


@pytest.mark.slow
def test_the_library_refuses_features_beyond_the_bound_too(client: Client) -> None:
    ml: MLInventoryIntelligence = client.app.state.ml
    with pytest.raises(ValidationFailed) as caught:
        ml.predict("demand_forecast", dict.fromkeys(DEMAND, 1e308))
    assert set(caught.value.details["invalid"]) == set(DEMAND)
    with pytest.raises(ValidationFailed):
        ml.predict_batch("demand_forecast", pd.DataFrame([dict.fromkeys(DEMAND, 1e308)]))


@pytest.mark.parametrize("value", [True, False, "5", None])
@pytest.mark.slow
def test_a_boolean_or_string_is_not_a_number(client: Client, value: Any) -> None:
    features = dict.fromkeys(DEMAND, 1.0) | {"promotions": value}
    error = error_of(client.post("/predict", json={"model_name": "demand_forecast", "features": features}), 422)
    assert fields(error) == ["features.promotions"]
    error = error_of(client.post("/predict/batch", json={"model_name": "demand_forecast", "rows": [features]}), 422)
    assert fields(error) == ["rows.0.promotions"]


@pytest.mark.slow
def test_train_rows_and_optimize_refuse_booleans(client: Client) -> None:
    error = error_of(client.post("/optimize", json={"historical_demand": True}), 422)
    assert fields(error) == ["historical_demand"]
    rows = [dict.fromkeys(DEMAND, 1.0) | {"demand": 2.0, "promotions": True}]
    error = error_of(client.post("/train", json={"model_name": "demand_forecast", "data": rows}), 422)
    assert fields(error) == ["data.0.promotions"]


# --- item 10: quantile columns ---------------------------------------------------------------------

def _history() -> list[dict[str, Any]]:
    days = pd.date_range("2023-01-01", periods=30, freq="W-SUN")
    return [{"sku": "A", "date": str(d.date()), "quantity": float(i % 5)} for i, d in enumerate(days)]


@pytest.mark.parametrize("quantiles", [[0.001, 0.004, 0.9991, 0.9999], [0.5, 0.504], [0.004], [0.996],
                                       [0.9, 0.9]])
@pytest.mark.slow
def test_quantiles_whose_columns_collide_or_round_to_q0_q100_are_refused(client: Client,
                                                                          quantiles: list[float]) -> None:
    error = error_of(client.post("/forecast", json={"horizon": 2, "history": _history(), "quantiles": quantiles}),
                     422)
    assert fields(error) == ["quantiles"]
    assert "quantiles" in error["message"]


@pytest.mark.slow
def test_distinct_quantile_columns_are_all_returned(client: Client) -> None:
    resp = client.post("/forecast", json={"horizon": 2, "history": _history(), "quantiles": [0.006, 0.5, 0.994]})
    assert resp.status_code == 200, resp.text
    assert {"q1", "q50", "q99"} <= set(resp.json()["items"][0])


def test_check_quantiles_names_the_colliding_columns() -> None:
    with pytest.raises(ValidationFailed) as caught:
        check_quantiles([0.001, 0.004, 0.9991, 0.9999])
    assert "q0" in caught.value.message and "q100" in caught.value.message
    assert check_quantiles([0.1, 0.9]) == (0.1, 0.9)


# --- smaller: the report, OpenAPI ------------------------------------------------------------------

@pytest.mark.slow
def test_the_report_lists_library_versions_only_to_the_admin(client: Client) -> None:
    anonymous = client.get("/report")
    assert anonymous.status_code == 200 and "library_versions" not in anonymous.text
    assert "scikit-learn" not in anonymous.text
    admin = client.get("/report", headers=ADMIN).json()
    assert admin["models"]["demand_forecast"]["library_versions"]["scikit-learn"]
    assert client.get("/report", headers={"Authorization": "Bearer wrong"}).status_code == 200


@pytest.mark.parametrize(("path", "method", "statuses"), [
    ("/predict", "post", {"400", "404", "409", "413", "422"}),
    ("/predict/batch", "post", {"404", "409", "422"}),
    ("/train", "post", {"404", "409", "422"}),
    ("/forecast", "post", {"404", "422", "503"}),
    ("/backtest", "post", {"404", "422", "503"}),
    ("/models/{name}/rollback", "post", {"401", "403", "404", "409"}),
    ("/optimize", "post", {"422"}),
    ("/anomalies", "post", {"422"}),
])
@pytest.mark.slow
def test_openapi_documents_the_error_responses(client: Client, path: str, method: str, statuses: set[str]) -> None:
    spec = client.get("/openapi.json").json()
    responses = spec["paths"][path][method]["responses"]
    assert statuses <= set(responses), (path, sorted(responses))
    for status in statuses:
        schema = responses[status]["content"]["application/json"]["schema"]
        assert schema["$ref"].endswith("/ErrorResponse"), (path, status, schema)


@pytest.mark.slow
def test_a_model_that_gives_no_finite_prediction_is_a_422_not_a_null(client: Client) -> None:
    """A (saved, say) model whose arithmetic overflows even inside the bound: refused, never null."""
    import copy

    ml: MLInventoryIntelligence = client.app.state.ml
    fitted = copy.deepcopy(ml.models["price_optimization"].fitted_)
    assert fitted is not None
    fitted.pipeline.named_steps["model"].coef_[:] = 1e300
    fitted.fast = None
    with pytest.raises(ValidationFailed, match="no finite prediction") as caught:
        fitted.predict_matrix(np.full((2, len(PRICING)), MAX_FEATURE_MAGNITUDE))
    assert caught.value.status == 422 and caught.value.details["rows"] == [0, 1]


@pytest.mark.slow
def test_store_errors_name_the_model_file_not_the_servers_layout(client: Client, root: Path) -> None:
    from sync.ml.store import ModelIntegrityError, ModelStore

    ml: MLInventoryIntelligence = client.app.state.ml
    copy_root = root / "store-copy"
    shutil.copytree(ml.store.root / "lead_time_prediction", copy_root / "lead_time_prediction")
    artifact = copy_root / "lead_time_prediction" / "v0001.skops"
    artifact.write_bytes(artifact.read_bytes() + b"tampered")
    with pytest.raises(ModelIntegrityError) as caught:
        ModelStore(copy_root).load("lead_time_prediction", 1)
    assert "lead_time_prediction/v0001.skops" in caught.value.message
    assert str(copy_root) not in str(caught.value.to_dict())


@pytest.mark.parametrize(("path", "body", "field"), [
    ("/forecast", {"horizon": True}, "horizon"),
    ("/forecast", {"horizon": "4"}, "horizon"),
    ("/forecast", {"horizon": 2, "quantiles": [True]}, "quantiles.0"),
    ("/backtest", {"horizon": 2, "windows": True}, "windows"),
])
@pytest.mark.slow
def test_counts_and_quantiles_are_strict_numbers(client: Client, path: str, body: dict[str, Any], field: str) -> None:
    error = error_of(client.post(path, json={"history": _history(), **body}), 422)
    assert fields(error) == [field]


@pytest.mark.slow
def test_a_rollback_version_is_a_strict_integer(client: Client) -> None:
    resp = client.post("/models/demand_forecast/rollback", json={"version": True}, headers=ADMIN)
    assert fields(error_of(resp, 422)) == ["version"]


@pytest.mark.parametrize(("column", "value"), [("quantity", 1e308), ("quantity", 1e13), ("price", -1e308),
                                               ("promotion", 1e300), ("orders", 10**13)])
@pytest.mark.slow
def test_history_values_beyond_the_bound_are_a_422_naming_the_field(client: Client, column: str,
                                                                     value: float) -> None:
    history = _history()
    history[2][column] = value
    error = error_of(client.post("/forecast", json={"horizon": 2, "history": history}), 422)
    assert fields(error) and all(f.startswith(f"history.2.{column}") for f in fields(error))


@pytest.mark.parametrize("freq", ["h", "M", "ME", "MS", "QE", "nonsense"])
@pytest.mark.slow
def test_frequencies_the_forecaster_is_not_built_for_are_a_422_naming_freq(client: Client, freq: str) -> None:
    error = error_of(client.post("/forecast", json={"horizon": 2, "history": _history(), "freq": freq}), 422)
    assert fields(error) == ["freq"]


@pytest.mark.parametrize("freq", ["W-SUN", "D"])
@pytest.mark.slow
def test_a_history_spanning_centuries_is_a_422_naming_history(client: Client, freq: str) -> None:
    history = [{"sku": "A", "date": "1900-01-07", "quantity": 1}, {"sku": "A", "date": "2200-01-07", "quantity": 1}]
    error = error_of(client.post("/forecast", json={"horizon": 2, "history": history, "freq": freq}), 422)
    assert fields(error) == ["history"] and "periods" in error["message"]
