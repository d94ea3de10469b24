"""Machine learning for inventory: the seed's ``MLInventoryIntelligence`` and its HTTP service."""

from sync.ml.intelligence import MLInventoryIntelligence
from sync.ml.types import Candidates, MLModel, PredictionResult

__all__ = ["Candidates", "MLInventoryIntelligence", "MLModel", "PredictionResult"]
