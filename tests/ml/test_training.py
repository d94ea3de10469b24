"""Each built-in model trains and predicts on the seed's column names; intervals are calibrated."""

from __future__ import annotations

import numpy as np
import pytest

from sync.ml import MLInventoryIntelligence
from sync.ml.builtins import DEMAND_FEATURES, LEAD_TIME_FEATURES, PRICING_FEATURES
from sync.ml.fast_predict import compile_pipeline
from tests.ml.data import FRAMES, MODEL_DATA, demand_frame, truth

SEED_COLUMNS = {
    "demand_forecast": (DEMAND_FEATURES, "demand"),
    "lead_time_prediction": (LEAD_TIME_FEATURES, "lead_time"),
    "price_optimization": (PRICING_FEATURES, "optimal_price"),
}


def test_builtin_columns_are_the_seed_sku_data_keys() -> None:
    assert DEMAND_FEATURES == ["historical_demand", "seasonality", "trend", "price", "promotions"]
    assert LEAD_TIME_FEATURES == ["supplier_performance", "order_quantity", "supply_chain_health", "seasonality"]
    assert PRICING_FEATURES == ["historical_demand", "competitor_price", "cost", "seasonality", "inventory_level"]


@pytest.mark.parametrize("model_name", list(MODEL_DATA))
@pytest.mark.slow
def test_each_builtin_model_trains_and_predicts(trained: MLInventoryIntelligence, model_name: str) -> None:
    features, target = SEED_COLUMNS[model_name]
    model = trained.models[model_name]
    assert model.feature_columns == features and model.target_column == target and model.is_trained
    row = FRAMES[MODEL_DATA[model_name]](n=1, seed=99).iloc[0][features].to_dict()
    result = trained.predict(model_name, row)
    expected = truth(model_name, row)
    width = result.upper - result.lower
    assert result.lower < result.prediction < result.upper
    assert abs(result.prediction - expected) < width  # learned the signal, not the mean
    assert 0.0 <= result.confidence <= 1.0
    assert result.model_version == "v1"


@pytest.mark.slow
def test_demand_model_is_chosen_by_cross_validation(trained: MLInventoryIntelligence) -> None:
    selection = trained.models["demand_forecast"].fitted_.metadata["selection"]
    assert set(selection["cv_rmse"]) == {"random_forest", "ridge", "combined"}
    assert selection["chosen"] == min(selection["cv_rmse"], key=selection["cv_rmse"].get)
    # the frame's demand is linear in the features, so a linear model must not lose to the forest
    assert selection["chosen"] in ("ridge", "combined")


@pytest.mark.slow
def test_nonlinear_demand_picks_a_forest(ml: MLInventoryIntelligence) -> None:
    df = demand_frame(800, seed=5)
    df["demand"] = np.where(df.price > 55, 150.0, 50.0) + np.random.default_rng(5).normal(0, 3, len(df))
    ml.add_training_data("demand", df)
    ml.train_model("demand_forecast", "demand")
    assert ml.models["demand_forecast"].fitted_.metadata["selection"]["chosen"] in ("random_forest", "combined")


@pytest.mark.slow
def test_interval_covers_about_ninety_percent_of_fresh_rows(ml: MLInventoryIntelligence) -> None:
    ml.add_training_data("demand", demand_frame(2000, seed=11))
    ml.train_model("demand_forecast")
    fresh = demand_frame(3000, seed=12)
    results = ml.predict_batch("demand_forecast", fresh)
    covered = np.mean([r.lower <= y <= r.upper for r, y in zip(results, fresh.demand, strict=True)])
    assert 0.86 <= covered <= 0.94
    # confidence is the held-out share within 10% of the prediction: check it against fresh rows
    within = np.mean([abs(y - r.prediction) <= 0.1 * abs(r.prediction) for r, y in zip(results, fresh.demand,
                                                                                      strict=True)])
    assert abs(np.mean([r.confidence for r in results]) - within) < 0.06


@pytest.mark.slow
def test_batch_predictions_equal_single_predictions(trained: MLInventoryIntelligence) -> None:
    rows = demand_frame(20, seed=3)[DEMAND_FEATURES]
    batch = trained.predict_batch("demand_forecast", rows)
    batch_from_dicts = trained.predict_batch("demand_forecast", rows.to_dict("records"))
    for i, record in enumerate(rows.to_dict("records")):
        single = trained.predict("demand_forecast", record)
        assert single.prediction == pytest.approx(batch[i].prediction, rel=1e-12)
        assert single.lower == pytest.approx(batch[i].lower) and single.confidence == batch[i].confidence
        assert batch_from_dicts[i].prediction == pytest.approx(batch[i].prediction, rel=1e-12)


@pytest.mark.parametrize("model_name", list(MODEL_DATA))
@pytest.mark.slow
def test_fast_predict_path_matches_the_pipeline(trained: MLInventoryIntelligence, model_name: str) -> None:
    fitted = trained.models[model_name].fitted_
    X = FRAMES[MODEL_DATA[model_name]](n=200, seed=42)[fitted.metadata["feature_columns"]].to_numpy(float)
    X[::7, 0] = np.nan  # the imputer step is part of the compiled path too
    assert fitted.fast is not None
    np.testing.assert_allclose(fitted.fast(X), fitted.pipeline.predict(X), rtol=1e-9, atol=1e-9)


def test_unsupported_steps_fall_back_to_the_pipeline() -> None:
    from sklearn.ensemble import GradientBoostingRegressor

    X = np.random.default_rng(0).normal(size=(50, 2))
    model = GradientBoostingRegressor(n_estimators=5).fit(X, X[:, 0])
    assert compile_pipeline(model, X) is None


@pytest.mark.slow
def test_training_progress_bar(ml: MLInventoryIntelligence, capsys: pytest.CaptureFixture[str]) -> None:
    ml.add_training_data("demand", demand_frame(200))
    assert ml.train_model("demand_forecast", progress=True)
    assert "selecting demand_forecast" in capsys.readouterr().out


@pytest.mark.slow
def test_interval_width_follows_the_prediction_size(ml: MLInventoryIntelligence) -> None:
    """Sales errors grow with the level: small and large predictions are both covered about 90%."""
    def frame(n: int, seed: int):  # type: ignore[no-untyped-def]
        df = demand_frame(n, seed=seed)
        level = np.clip(10 * (df.historical_demand - 60), 5, None)  # from 5 to ~1,000 units
        df["demand"] = level * np.random.default_rng(seed + 1000).lognormal(0, 0.3, n)
        return df

    ml.add_training_data("demand", frame(3000, 21))
    ml.train_model("demand_forecast")
    fresh = frame(4000, 22)
    results = ml.predict_batch("demand_forecast", fresh)
    predicted = np.array([r.prediction for r in results])
    covered = np.array([r.lower <= y <= r.upper for r, y in zip(results, fresh.demand, strict=True)])
    small, large = predicted < np.quantile(predicted, 0.5), predicted >= np.quantile(predicted, 0.5)
    assert 0.8 <= covered[small].mean() <= 0.98 and 0.8 <= covered[large].mean() <= 0.98
    widths = np.array([r.upper - r.lower for r in results])
    low, high = predicted < np.quantile(predicted, 0.1), predicted >= np.quantile(predicted, 0.9)
    assert np.median(widths[high]) > 3 * np.median(widths[low])
