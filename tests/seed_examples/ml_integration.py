# Verbatim from the seed document (shared/seed/inventory-improvements-system.md); do not edit.
from sync.ml_integration import MLInventoryIntelligence
import pandas as pd
import numpy as np

# Initialize ML system
ml_system = MLInventoryIntelligence()

# Prepare training data
demand_data = pd.DataFrame({
    "historical_demand": np.random.normal(100, 20, 1000),
    "seasonality": np.sin(np.arange(1000) * 2 * np.pi / 365),
    "trend": np.arange(1000) * 0.1,
    "price": np.random.uniform(10, 100, 1000),
    "promotions": np.random.choice([0, 1], 1000, p=[0.8, 0.2]),
    "demand": np.random.normal(100, 20, 1000)
})

# Add training data
ml_system.add_training_data("demand", demand_data)

# Train model
success = ml_system.train_model("demand_forecast", "demand")
print(f"Training success: {success}")

# Make prediction
prediction = ml_system.predict("demand_forecast", {
    "historical_demand": 120,
    "seasonality": 0.5,
    "trend": 10,
    "price": 50,
    "promotions": 1
})

print(f"Predicted demand: {prediction.prediction:.2f}")
print(f"Confidence: {prediction.confidence:.2f}")

# ML-powered optimization
sku_data = {
    "historical_demand": 100,
    "seasonality": 0.5,
    "trend": 5,
    "price": 50,
    "promotions": 0,
    "supplier_performance": 0.8,
    "order_quantity": 100,
    "supply_chain_health": 0.9,
    "competitor_price": 45,
    "cost": 30,
    "inventory_level": 200,
    "holding_cost": 5,
    "ordering_cost": 50,
    "safety_stock_multiplier": 1.5
}

results = ml_system.optimize_inventory_with_ml(sku_data)
print(f"Optimal quantity: {results['optimal_quantity']:.2f}")
print(f"Reorder point: {results['reorder_point']:.2f}")

# Detect anomalies
anomalies = ml_system.detect_anomalies(demand_data, ["historical_demand", "seasonality", "trend"])
print(f"Anomalies detected: {len(anomalies)}")

# Generate ML report
report = ml_system.generate_ml_report()
print(f"Model accuracy: {report['overall_performance']['average_accuracy']:.3f}")
