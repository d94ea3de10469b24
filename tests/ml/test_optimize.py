"""optimize_inventory_with_ml: the formulas, and which figure came from which model or fallback."""

from __future__ import annotations

import math
from statistics import NormalDist

import pytest

from sync.errors import ValidationFailed
from sync.ml import MLInventoryIntelligence
from tests.ml.data import SKU_DATA, demand_frame

REQUIRED = {"predicted_demand", "predicted_lead_time", "optimal_price", "optimal_quantity", "safety_stock",
            "reorder_point"}


def check_formulas(result: dict, sku: dict) -> None:
    d, sd_d = result["predicted_demand"], result["demand_std"]
    L, sd_L = result["predicted_lead_time"] / 7, result["lead_time_std"] / 7
    z = NormalDist().inv_cdf(sku.get("service_level", 0.95))
    ss = sku["safety_stock_multiplier"] * z * math.sqrt(L * sd_d**2 + d**2 * sd_L**2)
    assert result["safety_stock"] == pytest.approx(ss)
    assert result["optimal_quantity"] == pytest.approx(math.sqrt(2 * d * 365 / 7 * sku["ordering_cost"]
                                                                 / sku["holding_cost"]))
    assert result["reorder_point"] == pytest.approx(d * L + ss)


def test_untrained_system_uses_documented_fallbacks(ml: MLInventoryIntelligence) -> None:
    result = ml.optimize_inventory_with_ml(SKU_DATA)
    assert REQUIRED <= set(result)
    assert result["predicted_demand"] == 100 and result["optimal_price"] == 50
    assert result["sources"]["predicted_demand"] == "fallback:sku_data.historical_demand"
    assert result["sources"]["predicted_lead_time"] == "fallback:default 7 days"
    assert result["sources"]["optimal_price"].startswith("fallback:sku_data.price")
    check_formulas(result, SKU_DATA)


@pytest.mark.slow
def test_trained_models_supply_their_figures(trained: MLInventoryIntelligence) -> None:
    result = trained.optimize_inventory_with_ml(SKU_DATA)
    assert result["sources"]["predicted_demand"] == "model:demand_forecast@v1"
    assert result["sources"]["predicted_lead_time"] == "model:lead_time_prediction@v1"
    assert result["sources"]["optimal_price"].startswith("model:price_optimization@v1")
    assert result["predicted_demand"] == pytest.approx(trained.predict("demand_forecast", SKU_DATA).prediction)
    assert result["demand_std"] == trained.models["demand_forecast"].fitted_.metadata["metrics"]["rmse"]
    assert result["optimal_price"] >= SKU_DATA["cost"]
    check_formulas(result, SKU_DATA)


@pytest.mark.slow
def test_only_demand_trained_mixes_sources(ml: MLInventoryIntelligence) -> None:
    ml.add_training_data("demand", demand_frame(200))
    ml.train_model("demand_forecast")
    sku = dict(SKU_DATA, lead_time=14, lead_time_std=2, service_level=0.99)
    result = ml.optimize_inventory_with_ml(sku)
    assert result["sources"]["predicted_demand"].startswith("model:demand_forecast")
    assert result["sources"]["predicted_lead_time"] == "fallback:sku_data.lead_time"
    assert result["predicted_lead_time"] == 14 and result["lead_time_std"] == 2
    check_formulas(result, sku)


def test_safety_stock_multiplier_scales_safety_stock(ml: MLInventoryIntelligence) -> None:
    one = ml.optimize_inventory_with_ml(dict(SKU_DATA, safety_stock_multiplier=1.0))
    two = ml.optimize_inventory_with_ml(dict(SKU_DATA, safety_stock_multiplier=2.0))
    assert two["safety_stock"] == pytest.approx(2 * one["safety_stock"]) and one["safety_stock"] > 0


@pytest.mark.slow
def test_a_model_whose_features_are_absent_falls_back_and_says_why(trained: MLInventoryIntelligence) -> None:
    sku = {k: v for k, v in SKU_DATA.items() if k != "supplier_performance"}
    result = trained.optimize_inventory_with_ml(sku)
    assert result["sources"]["predicted_lead_time"] == (
        "fallback:default 7 days (lead_time_prediction needs ['supplier_performance'])")
    assert result["sources"]["predicted_demand"] == "model:demand_forecast@v1"
    with pytest.raises(ValidationFailed, match="trend"):
        trained.optimize_inventory_with_ml(dict(SKU_DATA, trend="soon"))  # present but invalid: an error


@pytest.mark.slow
def test_price_falls_back_to_the_current_price_when_the_model_cannot_run(trained: MLInventoryIntelligence) -> None:
    sku = {k: v for k, v in SKU_DATA.items() if k != "inventory_level"}
    result = trained.optimize_inventory_with_ml(sku)
    assert result["optimal_price"] == SKU_DATA["price"]
    assert result["sources"]["optimal_price"] == (
        "fallback:sku_data.price (price_optimization needs ['inventory_level'])")
