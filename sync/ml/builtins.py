"""The seed's three built-in models: their columns, targets and estimators.

Feature names are the seed's ``sku_data`` keys, so ``optimize_inventory_with_ml(sku_data)`` can feed
each model straight from one dict. Targets: ``demand`` (units per period), ``lead_time`` (days),
``optimal_price`` (currency units).
"""

from __future__ import annotations

from sklearn.ensemble import RandomForestRegressor
from sklearn.linear_model import LinearRegression, Ridge

from sync.ml.types import Candidates, MLModel

DEMAND_FEATURES = ["historical_demand", "seasonality", "trend", "price", "promotions"]
LEAD_TIME_FEATURES = ["supplier_performance", "order_quantity", "supply_chain_health", "seasonality"]
PRICING_FEATURES = ["historical_demand", "competitor_price", "cost", "seasonality", "inventory_level"]

#: data type -> built-in model trained on it
BUILTIN_DATA_TYPES = {"demand": "demand_forecast", "lead_time": "lead_time_prediction",
                      "pricing": "price_optimization"}


def _forest(random_state: int) -> RandomForestRegressor:
    # min_samples_leaf keeps the trees (and the saved file) small and the forest from memorising noise
    return RandomForestRegressor(n_estimators=100, min_samples_leaf=5, max_features=0.6,
                                 random_state=random_state, n_jobs=1)


def builtin_models(random_state: int = 0) -> dict[str, MLModel]:
    """Fresh, untrained instances of the three built-in models."""
    demand = Candidates({"random_forest": _forest(random_state), "ridge": Ridge(alpha=1.0)}, combine=True)
    return {
        "demand_forecast": MLModel("demand_forecast", "regression", demand, list(DEMAND_FEATURES), "demand",
                                   data_type="demand"),
        "lead_time_prediction": MLModel("lead_time_prediction", "regression", _forest(random_state),
                                        list(LEAD_TIME_FEATURES), "lead_time", data_type="lead_time"),
        "price_optimization": MLModel("price_optimization", "regression", LinearRegression(),
                                      list(PRICING_FEATURES), "optimal_price", data_type="pricing"),
    }
