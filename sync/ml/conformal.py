"""Split-conformal intervals and the meaning of ``confidence``.

From the absolute residuals |y - ŷ| of held-out rows (never used to fit the model):

* the interval is ŷ ± q, with q the ceil((n + 1) * level)-th smallest residual, which covers the
  true value with probability at least ``level`` for exchangeable rows (split conformal prediction);
* when every training target was >= 0 the lower bound is floored at 0 (coverage can only grow);
* ``confidence`` is the share of held-out rows whose residual was within 10% of |ŷ| (at least
  ``min_tolerance``): the estimated probability that the actual lands within ±10% of this prediction.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

RELATIVE_TOLERANCE = 0.10
MAX_KEPT_RESIDUALS = 2000


@dataclass(frozen=True)
class Calibration:
    level: float
    half_width: float
    residuals: np.ndarray  # sorted absolute held-out residuals (a quantile subsample when many)
    min_tolerance: float
    floor: float | None = None

    @classmethod
    def from_residuals(cls, abs_residuals: np.ndarray, level: float, scale: float,
                       floor: float | None = None) -> Calibration:
        r = np.sort(np.abs(np.asarray(abs_residuals, dtype=np.float64)))
        n = len(r)
        rank = min(n, math.ceil((n + 1) * level))
        half_width = float(r[rank - 1]) if n else float("inf")
        if n > MAX_KEPT_RESIDUALS:
            r = np.quantile(r, np.linspace(0, 1, MAX_KEPT_RESIDUALS))
        # near a zero prediction a purely relative band would be empty: 1% of the target's typical size
        return cls(level=level, half_width=half_width, residuals=r, min_tolerance=max(1e-9, 0.01 * scale),
                   floor=floor)

    def interval(self, prediction: float) -> tuple[float, float]:
        lower = prediction - self.half_width
        if self.floor is not None and lower < self.floor:
            lower = self.floor
        return lower, prediction + self.half_width

    def intervals(self, predictions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        lower = predictions - self.half_width
        if self.floor is not None:
            lower = np.maximum(lower, self.floor)
        return lower, predictions + self.half_width

    def confidence(self, prediction: float) -> float:
        tolerance = max(RELATIVE_TOLERANCE * abs(prediction), self.min_tolerance)
        hits = int(np.searchsorted(self.residuals, tolerance, side="right"))
        return hits / len(self.residuals) if len(self.residuals) else 0.0

    def confidences(self, predictions: np.ndarray) -> np.ndarray:
        tolerance = np.maximum(RELATIVE_TOLERANCE * np.abs(predictions), self.min_tolerance)
        hits = np.searchsorted(self.residuals, tolerance, side="right")
        return hits / max(1, len(self.residuals))

    def to_dict(self) -> dict[str, Any]:
        return {"level": self.level, "half_width": self.half_width, "residuals": self.residuals.tolist(),
                "min_tolerance": self.min_tolerance, "floor": self.floor}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Calibration:
        return cls(level=float(data["level"]), half_width=float(data["half_width"]),
                   residuals=np.asarray(data["residuals"], dtype=np.float64),
                   min_tolerance=float(data["min_tolerance"]),
                   floor=None if data.get("floor") is None else float(data["floor"]))
