"""Forecast benchmark of the SPEC ("Forecast benchmark method"): our forecast against statsforecast baselines.

    python bench/forecast.py [--data PATH]

Weekly (W-SUN) sales per SKU from the transactions file, SKUs with >= 52 non-zero weeks, three rolling
origins of 8 weeks ending at the last full week, errors scaled per SKU by the history before the first
origin. Prints one table (every baseline and ours), the SPEC's goal checks and our time.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sync.ml.forecasting import forecast_demand
from sync.ml.forecasting.baselines import BASELINE_NAMES, baseline_forecasts
from sync.ml.forecasting.metrics import Scores, score
from sync.ml.forecasting.panel import to_panel
from sync.ml.forecasting.weekly import read_transactions, weekly_history

DEFAULT_DATA = Path(__file__).resolve().parents[1] / "../shared/data/online-retail-ii/transactions-dev.csv.xz"
HORIZON = 8
N_ORIGINS = 3
OURS = "ours (sync.ml.forecasting)"


def _wide(forecast: pd.DataFrame, skus: np.ndarray, column: str) -> np.ndarray:
    table = forecast.pivot(index="sku", columns="date", values=column)
    return table.reindex(index=skus).to_numpy(dtype=np.float64)


def run(data: Path) -> int:
    history = weekly_history(read_transactions(data))
    panel = to_panel(history)
    n_periods = panel.n_periods
    origins = [n_periods - HORIZON * (N_ORIGINS - j) for j in range(N_ORIGINS)]
    print(
        f"data: {data.resolve()}\nSKUs: {len(panel.skus)}, weeks: {n_periods} "
        f"({panel.dates[0].date()} .. {panel.dates[-1].date()}), origins at "
        f"{', '.join(str(panel.dates[o].date()) for o in origins)} (first forecast week), h={HORIZON}"
    )
    actual, points, uppers = [], {n: [] for n in (*BASELINE_NAMES, OURS)}, {n: [] for n in (*BASELINE_NAMES, OURS)}
    our_seconds = 0.0
    our_cpu = 0.0
    for origin in origins:
        past = panel.head(origin)
        actual.append(panel.y[:, origin : origin + HORIZON])
        for name, (point, upper) in baseline_forecasts(past, HORIZON).items():
            points[name].append(point)
            uppers[name].append(upper)
        seen = history[history["date"] < panel.dates[origin]]
        start, start_cpu = time.perf_counter(), time.process_time()
        ours = forecast_demand(seen, HORIZON, freq="W-SUN", quantiles=(0.9,))
        our_seconds += time.perf_counter() - start
        our_cpu += time.process_time() - start_cpu
        points[OURS].append(_wide(ours, panel.skus, "forecast"))
        uppers[OURS].append(_wide(ours, panel.skus, "q90"))
    y = np.concatenate(actual, axis=1)
    train = panel.y[:, : origins[0]]
    scores: dict[str, Scores] = {
        name: score(y, np.concatenate(points[name], axis=1), np.concatenate(uppers[name], axis=1), train)
        for name in points
    }
    print(f"\n{'model':<28}{'RMSSE':>8}{'MASE':>8}{'WAPE':>8}{'bias':>8}{'q90 cov':>9}{'q90 pinball':>13}")
    for name, s in scores.items():
        print(f"{name:<28}{s.rmsse:8.4f}{s.mase:8.4f}{s.wape:8.4f}{s.bias:+8.4f}{s.coverage:9.4f}{s.pinball:13.4f}")
    base = [scores[n] for n in BASELINE_NAMES]
    best_rmsse = min(s.rmsse for s in base)
    best_pinball = min(s.pinball for s in base)
    mine = scores[OURS]
    checks = [
        (f"RMSSE {mine.rmsse:.4f} <= 0.97 x best baseline {best_rmsse:.4f}", mine.rmsse <= 0.97 * best_rmsse),
        (f"|bias| {abs(mine.bias):.4f} <= 0.05", abs(mine.bias) <= 0.05),
        (f"q90 coverage {mine.coverage:.4f} within 0.87..0.93", 0.87 <= mine.coverage <= 0.93),
        (f"q90 pinball {mine.pinball:.4f} <= 0.97 x best baseline {best_pinball:.4f}",
         mine.pinball <= 0.97 * best_pinball),
        (f"our time for {N_ORIGINS} origins {our_seconds:.1f} s <= 60 s", our_seconds <= 60.0),
    ]
    print("\ngoal checks:")
    for text, ok in checks:
        print(f"  {'PASS' if ok else 'FAIL'}  {text}")
    load = os.getloadavg()
    print(f"\nour time: {our_seconds:.1f} s wall, {our_cpu:.1f} s CPU (all threads) for {N_ORIGINS} origins "
          f"({os.cpu_count()} cores, load average now {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}; other "
          "processes on the machine stretch the wall time)")
    return 0 if all(ok for _, ok in checks) else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="transactions CSV (.csv or .csv.xz)")
    args = parser.parse_args()
    return run(args.data)


if __name__ == "__main__":
    raise SystemExit(main())
