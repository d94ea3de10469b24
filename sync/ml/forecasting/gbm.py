"""The global LightGBM model: one booster for every SKU, direct multi-horizon (horizon is a feature).

Trained with the Tweedie objective on scale-free demand: its log link keeps forecasts positive and fits
the spikes-and-zeros shape of weekly SKU demand, while still estimating the mean (unlike a model on log
demand, whose back-transform is the median-like geometric mean: an earlier model under-forecast by a
third that way). Plain squared error measured worse here (RMSSE 0.840 against 0.813, bias +9%).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import lightgbm as lgb
import numpy as np
import numpy.typing as npt

from sync.ml.forecasting.features import design, origin_features, sku_scale
from sync.ml.forecasting.panel import Array, Panel

DEFAULT_PARAMS: dict[str, Any] = {
    "objective": "tweedie",
    "tweedie_variance_power": 1.4,
    "learning_rate": 0.1,
    "num_leaves": 31,
    "min_data_in_leaf": 200,
    "feature_fraction": 0.8,
    "bagging_fraction": 0.7,
    "bagging_freq": 1,
    "lambda_l2": 1.0,
    "max_bin": 127,
    # One thread: on a shared 2-core machine OpenMP's spinning threads made training 3x slower.
    "num_threads": 1,
    "seed": 7,
    "deterministic": True,
    "force_row_wise": True,
    "verbose": -1,
}
MIN_ORIGIN = 8


@dataclass
class GlobalModel:
    """Direct multi-horizon LightGBM on scaled demand. ``fit`` learns; ``predict`` forecasts past the end."""

    horizon: int
    num_rounds: int = 150
    max_train_origins: int = 60
    params: dict[str, Any] = field(default_factory=dict)
    booster_: lgb.Booster | None = None
    feature_names_: list[str] = field(default_factory=list)

    @staticmethod
    def can_fit(target_end: int) -> bool:
        """Whether targets before ``target_end`` leave any training origin (origins start at MIN_ORIGIN)."""
        return target_end > MIN_ORIGIN + 1

    def _rows(self, n_sku: int, origins: npt.NDArray[np.int64]) -> tuple[npt.NDArray[np.int64], ...]:
        rows_i = np.repeat(np.arange(n_sku), len(origins))
        rows_t = np.tile(origins, n_sku)
        return rows_i, rows_t

    def fit(self, panel: Panel, target_end: int | None = None) -> GlobalModel:
        """Train on targets before period ``target_end`` (default: the whole panel)."""
        end = panel.n_periods if target_end is None else target_end
        scale = sku_scale(panel.y[:, :end])
        feats = origin_features(panel, scale)
        n_sku = panel.y.shape[0]
        blocks: list[npt.NDArray[np.float32]] = []
        targets: list[Array] = []
        first = max(MIN_ORIGIN, end - self.max_train_origins - self.horizon)
        for k in range(1, self.horizon + 1):
            origins = np.arange(first, end - k + 1)
            if len(origins) == 0:
                continue
            rows_i, rows_t = self._rows(n_sku, origins)
            x, names = design(feats, panel.dates, panel.freq, rows_i, rows_t, k)
            blocks.append(x)
            targets.append(feats.scaled_y[rows_i, rows_t + k - 1])
            self.feature_names_ = names
        data = lgb.Dataset(np.concatenate(blocks), label=np.concatenate(targets),
                           feature_name=self.feature_names_, free_raw_data=True)
        params = {**DEFAULT_PARAMS, **self.params}
        self.booster_ = lgb.train(params, data, num_boost_round=self.num_rounds)
        return self

    def predict(self, panel: Panel, origins: list[int] | None = None) -> Array:
        """Forecasts in units, shaped ``(n_sku, len(origins), horizon)``; default origin: the panel's end.

        The scale is recomputed from data before each origin, exactly as at training time.
        """
        if self.booster_ is None:
            raise RuntimeError("GlobalModel.predict before fit")
        origins = [panel.n_periods] if origins is None else origins
        n_sku = panel.y.shape[0]
        out = np.empty((n_sku, len(origins), self.horizon))
        for j, origin in enumerate(origins):
            scale = sku_scale(panel.y[:, :origin])
            feats = origin_features(panel.head(origin), scale)
            rows_i = np.arange(n_sku)
            rows_t = np.full(n_sku, origin)
            for k in range(1, self.horizon + 1):
                x, _ = design(feats, panel.dates[:origin], panel.freq, rows_i, rows_t, k)
                out[:, j, k - 1] = self.booster_.predict(x, num_threads=1) * scale
        return np.maximum(out, 0.0)
