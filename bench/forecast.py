"""Forecast benchmark of the SPEC ("Forecast benchmark method"): our forecast against statsforecast baselines.

    python bench/forecast.py [--data PATH]                 # the benchmark: 3 origins x 8 weeks
    python bench/forecast.py --scale N [--backend dask]    # throughput on N SKUs resampled from the panel

Weekly (W-SUN) sales per SKU from the transactions file, SKUs with >= 52 non-zero weeks, three rolling
origins of 8 weeks ending at the last full week, errors scaled per SKU by the history before the first
origin. Every model forecasts every SKU; the figures are reported for the SPEC's tuning half of the
products (where modelling choices are made), the confirmation half (where they are confirmed) and all
dev products, then q90 coverage per Syntetos-Boylan segment and per horizon step, the SPEC's goal checks
on the confirmation half, and our time.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sync.ml.forecasting import forecast_demand
from sync.ml.forecasting.baselines import BASELINE_NAMES, baseline_forecasts
from sync.ml.forecasting.ensemble import SEGMENTS, segment
from sync.ml.forecasting.metrics import Scores, coverage, score
from sync.ml.forecasting.model import forecast_panel
from sync.ml.forecasting.panel import Panel, to_panel
from sync.ml.forecasting.split import tuning_mask
from sync.ml.forecasting.weekly import read_transactions, weekly_history

DEFAULT_DATA = Path(__file__).resolve().parents[1] / "../shared/data/online-retail-ii/transactions-dev.csv.xz"
HORIZON = 8
N_ORIGINS = 3
OURS = "ours (sync.ml.forecasting)"


def _wide(forecast: pd.DataFrame, skus: np.ndarray, column: str) -> np.ndarray:
    table = forecast.pivot(index="sku", columns="date", values=column)
    return table.reindex(index=skus).to_numpy(dtype=np.float64)


def _load(data: Path) -> pd.DataFrame:
    """The weekly panel of ``data``, kept beside it in the temp directory (keyed by size and mtime)."""
    stat = data.stat()
    cache = Path(tempfile.gettempdir()) / f"bench-forecast-{data.name}-{stat.st_size}-{int(stat.st_mtime)}.csv"
    if cache.exists():  # plain CSV, never a pickle: the temp directory is shared
        return pd.read_csv(cache, dtype={"sku": str}, parse_dates=["date"])
    history = weekly_history(read_transactions(data))
    history.to_csv(cache, index=False)
    return history


def _table(title: str, scores: dict[str, Scores]) -> None:
    print(f"\n{title}\n{'model':<28}{'RMSSE':>8}{'MASE':>8}{'WAPE':>8}{'bias':>8}{'q90 cov':>9}{'q90 pinball':>13}")
    for name, s in scores.items():
        print(f"{name:<28}{s.rmsse:8.4f}{s.mase:8.4f}{s.wape:8.4f}{s.bias:+8.4f}{s.coverage:9.4f}{s.pinball:13.4f}")


def _checks(label: str, scores: dict[str, Scores], seconds: float | None) -> list[tuple[str, bool]]:
    base = [scores[n] for n in BASELINE_NAMES]
    best_rmsse = min(s.rmsse for s in base)
    best_pinball = min(s.pinball for s in base)
    mine = scores[OURS]
    checks = [
        (f"{label}: RMSSE {mine.rmsse:.4f} <= 0.97 x best baseline {best_rmsse:.4f} "
         f"({100 * (1 - mine.rmsse / best_rmsse):.1f}% below)", mine.rmsse <= 0.97 * best_rmsse),
        (f"{label}: |bias| {abs(mine.bias):.4f} <= 0.05", abs(mine.bias) <= 0.05),
        (f"{label}: q90 coverage {mine.coverage:.4f} within 0.87..0.93", 0.87 <= mine.coverage <= 0.93),
        (f"{label}: q90 pinball {mine.pinball:.4f} <= 0.97 x best baseline {best_pinball:.4f} "
         f"({100 * (1 - mine.pinball / best_pinball):.1f}% below)", mine.pinball <= 0.97 * best_pinball),
    ]
    if seconds is not None:
        checks.append((f"our time for {N_ORIGINS} origins {seconds:.1f} s <= 60 s", seconds <= 60.0))
    return checks


def run(data: Path) -> int:
    history = _load(data)
    panel = to_panel(history)
    n_periods = panel.n_periods
    origins = [n_periods - HORIZON * (N_ORIGINS - j) for j in range(N_ORIGINS)]
    print(
        f"data: {data.resolve()}\nSKUs: {len(panel.skus)}, weeks: {n_periods} "
        f"({panel.dates[0].date()} .. {panel.dates[-1].date()}), origins at "
        f"{', '.join(str(panel.dates[o].date()) for o in origins)} (first forecast week), h={HORIZON}"
    )
    names = (*BASELINE_NAMES, OURS)
    actual, points, uppers = [], {n: [] for n in names}, {n: [] for n in names}
    our_seconds = 0.0
    our_cpu = 0.0
    load_start = os.getloadavg()
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
    point = {n: np.concatenate(points[n], axis=1) for n in names}
    upper = {n: np.concatenate(uppers[n], axis=1) for n in names}
    tune = tuning_mask(panel.skus)
    groups = {
        f"tuning half ({tune.sum()} SKUs: every modelling choice is made here)": tune,
        f"confirmation half ({(~tune).sum()} SKUs: choices confirmed here)": ~tune,
        f"all dev products ({len(tune)} SKUs)": np.ones_like(tune),
    }
    results = {}
    for title, mask in groups.items():
        results[title] = {n: score(y[mask], point[n][mask], upper[n][mask], train[mask]) for n in names}
        _table(title, results[title])
    _coverage_tables(y, upper, train, tune)
    tuning, confirmation, _ = results.values()
    checks = _checks("confirmation half", confirmation, our_seconds)
    reference = _checks("tuning half", tuning, None)
    print("\ngoal checks (the SPEC's goals, on the confirmation half):")
    for text, ok in checks:
        print(f"  {'PASS' if ok else 'FAIL'}  {text}")
    print("for reference, the same on the tuning half:")
    for text, ok in reference:
        print(f"  {'pass' if ok else 'fail'}  {text}")
    load = os.getloadavg()
    print(f"\nour time: {our_seconds:.1f} s wall, {our_cpu:.1f} s CPU (all threads) for {N_ORIGINS} origins "
          f"({os.cpu_count()} cores; load average {load_start[0]:.2f} at the start, "
          f"{load[0]:.2f} {load[1]:.2f} {load[2]:.2f} at the end; other processes stretch the wall time)")
    return 0 if all(ok for _, ok in checks) else 1


def _coverage_tables(y: np.ndarray, upper: dict[str, np.ndarray], train: np.ndarray, tune: np.ndarray) -> None:
    """q90 coverage per Syntetos-Boylan segment (of the history before the first origin) and per step."""
    segments = segment(train)
    shown = (OURS, "AutoETS", "IMAPA")
    print("\nq90 coverage per Syntetos-Boylan segment (ours: tuning / confirmation / all; baselines: all)")
    print(f"{'segment':<14}{'SKUs':>6}{'tuning':>9}{'confirm':>9}{'all':>8}" + "".join(f"{n:>10}" for n in shown[1:]))
    for k, name in enumerate(SEGMENTS):
        seg = segments == k
        if not seg.any():
            continue
        cells = [coverage(y[seg & m], upper[OURS][seg & m]) if (seg & m).any() else float("nan")
                 for m in (tune, ~tune, np.ones_like(tune))]
        base = [coverage(y[seg], upper[n][seg]) for n in shown[1:]]
        print(f"{name:<14}{seg.sum():>6}" + "".join(f"{c:9.4f}" for c in cells[:2]) + f"{cells[2]:8.4f}"
              + "".join(f"{b:10.4f}" for b in base))
    print("\nq90 coverage per horizon step (ours; the 3 origins pooled)")
    print(f"{'step':<6}{'tuning':>9}{'confirm':>9}{'all':>8}")
    steps = y.shape[1] // N_ORIGINS
    for k in range(steps):
        cols = [k + steps * j for j in range(N_ORIGINS)]
        cells = [coverage(y[m][:, cols], upper[OURS][m][:, cols]) for m in (tune, ~tune, np.ones_like(tune))]
        print(f"{k + 1:<6}{cells[0]:9.4f}{cells[1]:9.4f}{cells[2]:8.4f}")


def synthesise(panel: Panel, n_sku: int, seed: int = 0) -> Panel:
    """``n_sku`` SKUs resampled from ``panel``: each a random SKU's weeks times a random volume factor.

    The factor (log-normal, sigma 0.5) scales quantities and order counts alike, rounded to whole units,
    so the resampled SKUs keep the dev panel's shapes (intermittency, seasons, bulk orders) without
    being copies of each other.
    """
    rng = np.random.default_rng(seed)
    pick = rng.integers(0, len(panel.skus), size=n_sku)
    factor = rng.lognormal(0.0, 0.5, size=(n_sku, 1))
    y = np.round(panel.y[pick] * factor)
    orders = None if panel.orders is None else np.where(y > 0, np.maximum(np.round(panel.orders[pick] * factor), 1), 0)
    skus = np.array([f"S{i:07d}" for i in range(n_sku)], dtype=object)
    return Panel(skus=skus, dates=panel.dates, y=y, price=None if panel.price is None else panel.price[pick],
                 promotion=None, freq=panel.freq, orders=orders)


def run_scale(data: Path, n_sku: int, backend: str, workers: int) -> int:
    """Fit and forecast N resampled SKUs once (8 weeks past the panel's end); print SKUs per second."""
    panel = synthesise(to_panel(_load(data)), n_sku)
    print(f"scale: {n_sku} SKUs resampled from {data.name}, {panel.n_periods} weeks, h={HORIZON}, "
          f"statistical models on backend '{backend}'")
    client = None
    if backend == "dask":
        from distributed import Client, LocalCluster

        cluster = LocalCluster(n_workers=workers, threads_per_worker=1, dashboard_address=None)
        client = Client(cluster)
    try:
        load_start = os.getloadavg()
        start, start_cpu = time.perf_counter(), time.process_time()
        forecast = forecast_panel(panel, HORIZON, (0.9,), backend=backend)
        fit_s, fit_cpu = time.perf_counter() - start, time.process_time() - start_cpu
    finally:
        if client is not None:
            client.close()
            cluster.close()
    point, upper = forecast.point, forecast.quantiles[0.9]
    assert point.shape == (n_sku, HORIZON) and np.isfinite(point).all() and np.isfinite(upper).all()
    load = os.getloadavg()
    # one call fits every model (inner origins and past the end), chooses the blend per segment and
    # calibrates its quantiles: there is no separate predict step to time
    print(f"fit and forecast: {fit_s:8.1f} s wall {n_sku / fit_s:10.1f} SKUs/s; {fit_cpu:.1f} s CPU in this "
          f"process ({n_sku / max(fit_cpu, 1e-9):.1f} SKUs per CPU second; Dask workers' CPU not included; "
          f"{os.cpu_count()} cores; load average {load_start[0]:.2f} at the start, {load[0]:.2f} at the end)")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="transactions CSV (.csv or .csv.xz)")
    parser.add_argument("--scale", type=int, default=None, metavar="N",
                        help="instead of the benchmark: fit and forecast N SKUs resampled from the panel")
    parser.add_argument("--backend", choices=("local", "dask"), default="local",
                        help="with --scale: where the statistical models run (dask: a local Dask cluster)")
    parser.add_argument("--workers", type=int, default=2, help="with --backend dask: worker processes")
    args = parser.parse_args()
    if args.scale is not None:
        if args.scale < 1:
            parser.error("--scale must be at least 1")
        return run_scale(args.data, args.scale, args.backend, args.workers)
    return run(args.data)


if __name__ == "__main__":
    raise SystemExit(main())
