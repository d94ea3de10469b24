# Verbatim from the seed document (shared/seed/inventory-improvements-system.md); do not edit.
# Customize ML models
ml_system = MLInventoryIntelligence()

# Add custom model
from sklearn.ensemble import GradientBoostingRegressor

custom_model = MLModel(
    name="custom_forecast",
    model_type="regression",
    model=GradientBoostingRegressor(n_estimators=200),
    feature_columns=["feature1", "feature2", "feature3"],
    target_column="target"
)

ml_system.models["custom_forecast"] = custom_model
