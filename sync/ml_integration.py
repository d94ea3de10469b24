"""The seed's import path: ``from sync.ml_integration import MLInventoryIntelligence, MLModel``."""

from sync.ml.intelligence import MLInventoryIntelligence
from sync.ml.types import Candidates, MLModel, PredictionResult

__all__ = ["Candidates", "MLInventoryIntelligence", "MLModel", "PredictionResult"]

