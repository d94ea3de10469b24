"""The seed's public value types: ``MLModel`` (what to train) and ``PredictionResult`` (what predict gives)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

#: model types ``train_model`` knows how to fit and calibrate
MODEL_TYPES = ("regression",)


@dataclass
class PredictionResult:
    """One prediction with its split-conformal interval.

    ``lower``/``upper`` bound the true value with the model's nominal ``interval_level`` (0.9 by default)
    probability, calibrated on held-out rows. ``confidence`` is the share of held-out rows whose actual
    value fell within 10% of the prediction's size (see docs/ml.md): a calibrated probability in [0, 1].
    """

    prediction: float
    confidence: float
    lower: float
    upper: float
    model_version: str
    model_name: str = ""
    cached: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "model_name": self.model_name, "prediction": self.prediction, "confidence": self.confidence,
            "lower": self.lower, "upper": self.upper, "model_version": self.model_version,
        }


@dataclass
class MLModel:
    """A model ``MLInventoryIntelligence`` can train: the seed's five fields plus an optional data type.

    ``model`` is an unfitted scikit-learn regressor (or a :class:`Candidates` set chosen by validation);
    it is cloned for every fit, so the object you pass in is never mutated. ``data_type`` names the
    training data it learns from (default: the model's own name). Learned state lives in ``fitted_``.
    """

    name: str
    model_type: str
    model: Any
    feature_columns: list[str]
    target_column: str
    data_type: str | None = None
    fitted_: Any = field(default=None, repr=False, compare=False)

    @property
    def is_trained(self) -> bool:
        return self.fitted_ is not None

    @property
    def training_data_type(self) -> str:
        return self.data_type or self.name


@dataclass(frozen=True)
class Candidates:
    """Several regressors of which training keeps the one with the best cross-validated RMSE.

    With ``combine`` the average of all of them (a ``VotingRegressor``) is one more candidate, named
    ``combined``; its fold scores come from the members' fold predictions, so it costs no extra fits.
    """

    estimators: dict[str, Any]
    cv: int = 3
    combine: bool = False
