"""Bad input gets an error that names the problem, and leaves the served model untouched."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from sync.errors import NotFitted, NotFound, ValidationFailed
from sync.ml import MLInventoryIntelligence, MLModel
from tests.ml.data import SKU_DATA, demand_frame

GOOD_ROW = {"historical_demand": 120, "seasonality": 0.5, "trend": 10, "price": 50, "promotions": 1}


def train_error(ml: MLInventoryIntelligence, df: object) -> ValidationFailed:
    ml.training_data["demand"] = df  # type: ignore[assignment]
    with pytest.raises(ValidationFailed) as info:
        ml.train_model("demand_forecast", "demand")
    return info.value


def test_empty_frame_is_refused(ml: MLInventoryIntelligence) -> None:
    with pytest.raises(ValidationFailed, match="empty"):
        ml.add_training_data("demand", pd.DataFrame())
    with pytest.raises(ValidationFailed, match="DataFrame"):
        ml.add_training_data("demand", [{"demand": 1}])  # type: ignore[arg-type]


def test_missing_column_is_named(ml: MLInventoryIntelligence) -> None:
    error = train_error(ml, demand_frame(100).drop(columns=["promotions"]))
    assert "promotions" in error.message and error.details["missing"] == ["promotions"]
    error = train_error(ml, demand_frame(100).drop(columns=["demand"]))
    assert "demand" in error.message


def test_all_nan_and_nan_target_columns_are_named(ml: MLInventoryIntelligence) -> None:
    df = demand_frame(100)
    df["price"] = np.nan
    assert "price" in train_error(ml, df).message
    df = demand_frame(100)
    df.loc[[3, 4], "demand"] = np.nan
    error = train_error(ml, df)
    assert "'demand'" in error.message and error.details["nan_rows"] == 2


@pytest.mark.slow
def test_a_few_missing_feature_values_are_imputed(ml: MLInventoryIntelligence) -> None:
    df = demand_frame(200)
    df.loc[::10, "price"] = np.nan
    ml.add_training_data("demand", df)
    assert ml.train_model("demand_forecast")


def test_non_numeric_and_infinite_columns_are_named(ml: MLInventoryIntelligence) -> None:
    df = demand_frame(100)
    df["promotions"] = "yes"
    assert "promotions" in train_error(ml, df).message
    df = demand_frame(100)
    df.loc[0, "trend"] = np.inf
    assert "trend" in train_error(ml, df).message


def test_too_few_rows(ml: MLInventoryIntelligence) -> None:
    error = train_error(ml, demand_frame(12))
    assert "12 rows" in error.message and error.details["minimum"] == 30


def test_unknown_model_and_data_type(ml: MLInventoryIntelligence) -> None:
    with pytest.raises(NotFound, match="nope"):
        ml.train_model("nope", "demand")
    with pytest.raises(NotFound, match="nope"):
        ml.predict("nope", GOOD_ROW)
    with pytest.raises(ValidationFailed, match="no training data for data type 'sales'"):
        ml.train_model("demand_forecast", "sales")
    with pytest.raises(ValidationFailed, match="data_type"):
        ml.add_training_data("../../etc", demand_frame(50))


def test_unsupported_model_type(ml: MLInventoryIntelligence) -> None:
    from sklearn.linear_model import LogisticRegression

    ml.models["churn"] = MLModel("churn", "clustering", LogisticRegression(), ["price"], "demand")
    ml.add_training_data("churn", demand_frame(100))
    with pytest.raises(ValidationFailed, match="model_type 'clustering'"):
        ml.train_model("churn")


def test_predict_before_training(ml: MLInventoryIntelligence) -> None:
    with pytest.raises(NotFitted, match="not trained"):
        ml.predict("demand_forecast", GOOD_ROW)


def test_the_public_model_accessors_name_what_is_missing(ml: MLInventoryIntelligence,
                                                         trained: MLInventoryIntelligence) -> None:
    assert ml.model("demand_forecast").training_data_type == "demand"
    assert ml.served("demand_forecast") is None and ml.served("nope") is None
    with pytest.raises(NotFitted, match="not trained") as untrained:
        ml.fitted("demand_forecast")
    assert untrained.value.status == 409
    with pytest.raises(NotFound, match="unknown model 'nope'"):
        ml.fitted("nope")
    assert trained.fitted("demand_forecast") is trained.served("demand_forecast") is not None


@pytest.mark.slow
def test_bad_features_are_named(trained: MLInventoryIntelligence) -> None:
    with pytest.raises(ValidationFailed, match="promotions") as info:
        trained.predict("demand_forecast", {k: v for k, v in GOOD_ROW.items() if k != "promotions"})
    assert info.value.details["missing"] == ["promotions"]
    with pytest.raises(ValidationFailed, match="price is not a number"):
        trained.predict("demand_forecast", dict(GOOD_ROW, price="50"))
    with pytest.raises(ValidationFailed, match="trend is not a finite number"):
        trained.predict("demand_forecast", dict(GOOD_ROW, trend=float("nan")))
    with pytest.raises(ValidationFailed, match="price"):
        trained.predict("demand_forecast", dict(GOOD_ROW, price=None))
    with pytest.raises(ValidationFailed, match="price"):
        trained.predict_batch("demand_forecast", pd.DataFrame([dict(GOOD_ROW, price=np.nan)]))


@pytest.mark.slow
def test_failed_training_keeps_the_served_model(trained: MLInventoryIntelligence) -> None:
    before = trained.predict("demand_forecast", GOOD_ROW).prediction
    version = trained.models["demand_forecast"].fitted_.version
    trained.training_data["broken"] = demand_frame(5)
    with pytest.raises(ValidationFailed):
        trained.train_model("demand_forecast", "broken")
    assert trained.models["demand_forecast"].fitted_.version == version
    assert trained.predict("demand_forecast", GOOD_ROW).prediction == before


@pytest.mark.slow
def test_optimize_refuses_bad_sku_data(trained: MLInventoryIntelligence) -> None:
    with pytest.raises(ValidationFailed, match="holding_cost"):
        trained.optimize_inventory_with_ml({k: v for k, v in SKU_DATA.items() if k != "holding_cost"})
    with pytest.raises(ValidationFailed, match="ordering_cost"):
        trained.optimize_inventory_with_ml(dict(SKU_DATA, ordering_cost="fifty"))
    with pytest.raises(ValidationFailed, match="service_level"):
        trained.optimize_inventory_with_ml(dict(SKU_DATA, service_level=1.2))


def test_anomaly_input_errors(ml: MLInventoryIntelligence) -> None:
    with pytest.raises(ValidationFailed, match="nope"):
        ml.detect_anomalies(demand_frame(100), ["price", "nope"])
    with pytest.raises(ValidationFailed, match="empty"):
        ml.detect_anomalies(pd.DataFrame(), ["price"])
    with pytest.raises(ValidationFailed, match="non-empty list"):
        ml.detect_anomalies(demand_frame(100), [])


def test_training_rows_are_capped(ml: MLInventoryIntelligence, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("sync.ml.intelligence.MAX_TRAINING_ROWS", 150)
    ml.add_training_data("demand", demand_frame(100))
    with pytest.raises(ValidationFailed, match="more than 150"):
        ml.add_training_data("demand", demand_frame(100))
    assert len(ml.training_data["demand"]) == 100
