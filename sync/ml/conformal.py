"""Normalised split-conformal intervals and the meaning of ``confidence``.

Held-out rows (never used to fit the model) give scores s = |y - ŷ| / (|ŷ| + m), where
m = 0.1 · mean |y| of the training target keeps the scale positive near zero. Then:

* the interval is ŷ ± q · (|ŷ| + m), q the ceil((n + 1) · level)-th smallest score: it contains the
  true value with probability at least ``level`` for rows exchangeable with the held-out ones (split
  conformal prediction), and its width grows with the prediction, as errors on sales do (on the
  bundled sample, coverage stays near 0.9 for small and large predictions alike, where a constant
  width covered 100% of small and 25% of large ones);
* when every training target was >= 0 the lower bound is floored at 0 (coverage can only grow);
* ``confidence`` is the share of held-out rows whose error, on the same relative scale, was within
  10% of |ŷ| (at least 1% of mean |y|): the estimated probability that the actual lands within ±10%
  of this prediction.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

RELATIVE_TOLERANCE = 0.10
OFFSET_SHARE = 0.10
MAX_KEPT_SCORES = 2000


@dataclass(frozen=True)
class Calibration:
    level: float
    quantile: float  # q: the conformal quantile of the normalised scores
    offset: float  # m: added to |ŷ| in the scale
    scores: np.ndarray  # sorted held-out normalised scores (a quantile subsample when many)
    min_tolerance: float
    floor: float | None = None

    @classmethod
    def from_residuals(cls, residuals: np.ndarray, predictions: np.ndarray, level: float, scale: float,
                       floor: float | None = None) -> Calibration:
        """``scale``: mean |y| of the training target (sets the offset m and the minimum tolerance)."""
        offset = max(1e-9, OFFSET_SHARE * scale)
        scores = np.sort(np.abs(np.asarray(residuals, dtype=np.float64)) / (np.abs(predictions) + offset))
        n = len(scores)
        rank = min(n, math.ceil((n + 1) * level))
        quantile = float(scores[rank - 1]) if n else float("inf")
        if n > MAX_KEPT_SCORES:
            scores = np.quantile(scores, np.linspace(0, 1, MAX_KEPT_SCORES))
        return cls(level=level, quantile=quantile, offset=offset, scores=scores,
                   min_tolerance=max(1e-9, 0.01 * scale), floor=floor)

    def half_widths(self, predictions: np.ndarray) -> np.ndarray:
        widths: np.ndarray = self.quantile * (np.abs(predictions) + self.offset)
        return widths

    def interval(self, prediction: float) -> tuple[float, float]:
        half = self.quantile * (abs(prediction) + self.offset)
        lower = prediction - half
        if self.floor is not None and lower < self.floor:
            lower = self.floor
        return lower, prediction + half

    def intervals(self, predictions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        half = self.half_widths(predictions)
        lower = predictions - half
        if self.floor is not None:
            lower = np.maximum(lower, self.floor)
        return lower, predictions + half

    def confidence(self, prediction: float) -> float:
        return float(self.confidences(np.array([prediction]))[0])

    def confidences(self, predictions: np.ndarray) -> np.ndarray:
        tolerance = np.maximum(RELATIVE_TOLERANCE * np.abs(predictions), self.min_tolerance)
        hits = np.searchsorted(self.scores, tolerance / (np.abs(predictions) + self.offset), side="right")
        shares: np.ndarray = hits / max(1, len(self.scores))
        return shares

    def to_dict(self) -> dict[str, Any]:
        return {"level": self.level, "quantile": self.quantile, "offset": self.offset,
                "scores": self.scores.tolist(), "min_tolerance": self.min_tolerance, "floor": self.floor}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Calibration:
        return cls(level=float(data["level"]), quantile=float(data["quantile"]), offset=float(data["offset"]),
                   scores=np.asarray(data["scores"], dtype=np.float64),
                   min_tolerance=float(data["min_tolerance"]),
                   floor=None if data.get("floor") is None else float(data["floor"]))
