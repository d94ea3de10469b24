"""Training frames with a known signal on the seed's column names, for the ML tests."""

from __future__ import annotations

import numpy as np
import pandas as pd


def demand_frame(n: int = 600, seed: int = 0, noise: float = 5.0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    df = pd.DataFrame({
        "historical_demand": rng.normal(100, 20, n),
        "seasonality": np.sin(np.arange(n) * 2 * np.pi / 52),
        "trend": np.arange(n) * 0.1,
        "price": rng.uniform(10, 100, n),
        "promotions": rng.choice([0, 1], n, p=[0.8, 0.2]),
    })
    df["demand"] = (0.8 * df.historical_demand + 15 * df.promotions - 0.3 * df.price + 10 * df.seasonality
                    + rng.normal(0, noise, n))
    return df


def lead_time_frame(n: int = 600, seed: int = 1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    df = pd.DataFrame({
        "supplier_performance": rng.uniform(0.5, 1.0, n),
        "order_quantity": rng.uniform(10, 500, n),
        "supply_chain_health": rng.uniform(0.5, 1.0, n),
        "seasonality": np.sin(np.arange(n) * 2 * np.pi / 52),
    })
    df["lead_time"] = (20 - 8 * df.supplier_performance - 6 * df.supply_chain_health + 0.01 * df.order_quantity
                       + 2 * df.seasonality + rng.normal(0, 0.5, n))
    return df


def pricing_frame(n: int = 600, seed: int = 2) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    df = pd.DataFrame({
        "historical_demand": rng.normal(100, 20, n),
        "competitor_price": rng.uniform(20, 80, n),
        "cost": rng.uniform(10, 40, n),
        "seasonality": np.sin(np.arange(n) * 2 * np.pi / 52),
        "inventory_level": rng.uniform(50, 500, n),
    })
    df["optimal_price"] = (0.5 * df.competitor_price + 0.8 * df.cost + 0.05 * df.historical_demand
                           - 0.01 * df.inventory_level + rng.normal(0, 1.0, n))
    return df


def truth(model_name: str, row: dict[str, float]) -> float:
    """The noise-free target of the frames above."""
    if model_name == "demand_forecast":
        return (0.8 * row["historical_demand"] + 15 * row["promotions"] - 0.3 * row["price"]
                + 10 * row["seasonality"])
    if model_name == "lead_time_prediction":
        return (20 - 8 * row["supplier_performance"] - 6 * row["supply_chain_health"] + 0.01 * row["order_quantity"]
                + 2 * row["seasonality"])
    return (0.5 * row["competitor_price"] + 0.8 * row["cost"] + 0.05 * row["historical_demand"]
            - 0.01 * row["inventory_level"])


FRAMES = {"demand": demand_frame, "lead_time": lead_time_frame, "pricing": pricing_frame}
MODEL_DATA = {"demand_forecast": "demand", "lead_time_prediction": "lead_time", "price_optimization": "pricing"}

#: the seed's sku_data
SKU_DATA = {
    "historical_demand": 100, "seasonality": 0.5, "trend": 5, "price": 50, "promotions": 0,
    "supplier_performance": 0.8, "order_quantity": 100, "supply_chain_health": 0.9, "competitor_price": 45,
    "cost": 30, "inventory_level": 200, "holding_cost": 5, "ordering_cost": 50, "safety_stock_multiplier": 1.5,
}
