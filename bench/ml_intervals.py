"""Interval calibration of the demand model on the bundled sample: constant vs normalised conformal.

Splits the sample-derived demand rows 50/25/25 (fit / calibrate / test), fits the demand pipeline
(RF + Ridge average) and prints coverage and width of a 90% split-conformal interval with a constant
width and with the width scaled by |ŷ| + m (what ``sync.ml.conformal`` does), by prediction size.

    .venv/bin/python bench/ml_intervals.py
"""

from __future__ import annotations

import math

import numpy as np
from sklearn.ensemble import RandomForestRegressor, VotingRegressor
from sklearn.linear_model import Ridge

from sync.ml.bootstrap import bootstrap_frames
from sync.ml.builtins import DEMAND_FEATURES
from sync.ml.training import make_pipeline

BUCKETS = ((0, 10), (10, 50), (50, 200), (200, math.inf))


def conformal_quantile(scores: np.ndarray, level: float = 0.9) -> float:
    ordered = np.sort(scores)
    return float(ordered[min(len(ordered), math.ceil((len(ordered) + 1) * level)) - 1])


def main() -> None:
    frame = bootstrap_frames()["demand"]
    X, y = frame[DEMAND_FEATURES].to_numpy(float), frame["demand"].to_numpy(float)
    order = np.random.default_rng(0).permutation(len(y))
    n = len(y)
    fit, cal, test = order[: n // 2], order[n // 2: 3 * n // 4], order[3 * n // 4:]
    forest = RandomForestRegressor(100, min_samples_leaf=5, max_features=0.6, random_state=0)
    model = make_pipeline(VotingRegressor([("rf", forest), ("ridge", Ridge())])).fit(X[fit], y[fit])
    p_cal, p_test = model.predict(X[cal]), model.predict(X[test])
    offset = 0.1 * np.mean(np.abs(y[fit]))
    widths = {
        "constant": np.full(len(test), conformal_quantile(np.abs(y[cal] - p_cal))),
        "normalised": conformal_quantile(np.abs(y[cal] - p_cal) / (np.abs(p_cal) + offset)) * (np.abs(p_test) + offset),
    }
    print(f"rows: fit {len(fit)}, calibrate {len(cal)}, test {len(test)}; target 90% coverage")
    for name, half in widths.items():
        covered = np.abs(y[test] - p_test) <= half
        print(f"{name:10s} coverage {covered.mean():.3f}  median width {np.median(2 * half):.1f}")
        for lo, hi in BUCKETS:
            mask = (p_test >= lo) & (p_test < hi)
            print(f"    predicted {lo:>4}-{hi:<4}: n={mask.sum():4d} coverage {covered[mask].mean():.3f} "
                  f"median width {np.median(2 * half[mask]):.1f}")


if __name__ == "__main__":
    main()
