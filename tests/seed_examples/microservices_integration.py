# Verbatim from the seed document (shared/seed/inventory-improvements-system.md); do not edit.
import requests

# Make requests through API gateway
base_url = "http://localhost:8000"

# Inventory service requests
inventory_response = requests.get(f"{base_url}/inventory/health")
print(f"Inventory health: {inventory_response.json()}")

# Analytics service requests
analytics_response = requests.get(f"{base_url}/analytics/metrics")
print(f"Analytics metrics: {analytics_response.json()}")

# ML service requests
ml_response = requests.post(f"{base_url}/ml/predict", json={
    "model_name": "demand_forecast",
    "features": {
        "historical_demand": 120,
        "seasonality": 0.5,
        "trend": 10,
        "price": 50,
        "promotions": 1
    }
})
print(f"ML prediction: {ml_response.json()}")
