"""Replenishment benchmark of the SPEC ("Replenishment planning"): our policy against the textbook rule.

    python bench/replenishment.py [--data PATH] [--cache DIR]

The forecast benchmark's weekly panel (same data, same SKUs, same three origins). Over the 24 weeks
from the first origin, each policy is re-planned at every origin on the history before it and
simulated with lost sales (lead time 2 weeks, weekly review, ordering cost 10, holding rate 0.25 per
year, unit value = the SKU's mean sale price before the first origin; each SKU starts at its first
order-up-to level). Reported per half of the products (SPEC "Validation discipline" hash split; every
policy choice was made on the tuning half): achieved fill rate, mean weekly stock value on hand,
orders, stockout weeks and the share of SKUs more than 5 points below target; for ours, the textbook
rule at k = z(target) and the textbook rule with k tuned by bisection to our fill rate on that half.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.forecast import DEFAULT_DATA, HORIZON, N_ORIGINS
from sync.ml.forecasting import forecast_demand
from sync.ml.forecasting.weekly import read_transactions, weekly_history
from sync.ml.replenishment import plan_replenishment
from sync.ml.replenishment.policy import SHORTAGE_FACTOR
from sync.ml.replenishment.whatif import Outcome, Replay, prepare

TARGET = 0.95
LEVELS = (0.90, 0.95, 0.98)  # what a service-level change costs (ours only, same forecasts)
FACTORS = (1.0, 1.5, 2.0, 3.0, 4.0, 5.0, 6.0, 8.0, 10.0, 14.0)
PARAMS = {"lead_time": 2, "review_period": 1, "ordering_cost": 10.0, "holding_cost_rate": 0.25}


def tuning_half(skus: np.ndarray) -> np.ndarray:
    """SPEC split: tuning when the last hex digit of sha256("tune-" + StockCode) is even."""
    return np.array([int(hashlib.sha256(("tune-" + str(s)).encode()).hexdigest()[-1], 16) % 2 == 0 for s in skus])


class Forecasts:
    """``forecast_demand`` memoised by (last week, horizon), optionally on disk (``--cache``)."""

    def __init__(self, cache: Path | None) -> None:
        self.cache = cache
        self.memo: dict[tuple[str, int], pd.DataFrame] = {}
        self.seconds = 0.0

    def __call__(self, history: pd.DataFrame, horizon: int) -> pd.DataFrame:
        key = (str(pd.Timestamp(history["date"].max()).date()), horizon)
        if key in self.memo:
            return self.memo[key]
        path = None if self.cache is None else self.cache / f"forecast_{key[0]}_h{horizon}.csv"
        if path is not None and path.exists():
            frame = pd.read_csv(path, dtype={"sku": str}, parse_dates=["date"])
        else:
            start = time.perf_counter()
            frame = forecast_demand(history, horizon, quantiles=(0.9,))
            self.seconds += time.perf_counter() - start
            if path is not None:
                path.parent.mkdir(parents=True, exist_ok=True)
                frame.to_csv(path, index=False)
        self.memo[key] = frame
        return frame


def row(name: str, o: Outcome, extra: str = "") -> str:
    return (f"  {name:<30}{o.fill_rate:8.4f}{o.stock_value:13,.0f}{o.orders:8d}{o.stockout_periods:10d}"
            f"{o.skus_far_below:11.3f}  {extra}")


def bootstrap_interval(outcome: Outcome, draws: int = 2000, seed: int = 0) -> tuple[float, float]:
    """90% interval of the achieved fill rate over resamples of the half's SKUs (its sampling noise)."""
    per = outcome.per_sku
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, len(per), size=(draws, len(per)))
    served, demand = per["served"].to_numpy()[picks].sum(axis=1), per["demand"].to_numpy()[picks].sum(axis=1)
    low, high = np.quantile(served / demand, [0.05, 0.95])
    return float(low), float(high)


def half_report(replay: Replay, mask: np.ndarray, label: str) -> tuple[Outcome, Outcome, Outcome, float]:
    ours = replay.outcome(replay.trace_ours(), mask)
    textbook = replay.outcome(replay.trace_textbook(), mask)
    k, tuned = replay.tune_textbook(ours.fill_rate, mask)
    print(f"\n{label} ({int(mask.sum())} SKUs)")
    print(f"  {'policy':<30}{'fill':>8}{'stock value':>13}{'orders':>8}{'stockouts':>10}{'far below':>11}")
    low, high = bootstrap_interval(ours)
    print(row("ours", ours, f"90% interval over resampled SKUs {low:.4f} .. {high:.4f}"))
    print(row("textbook k = z(0.95) = 1.645", textbook))
    ratio = ours.stock_value / tuned.stock_value
    print(row(f"textbook k tuned = {k:.3f}", tuned, f"stock value ratio ours/tuned {ratio:.3f}"))
    return ours, textbook, tuned, k


def sweep(history: pd.DataFrame, start: int, forecasts: Forecasts) -> None:
    """How SHORTAGE_FACTOR was chosen: tuning-half figures for each candidate (the confirmation half unseen)."""
    print(f"\nshortage factor sweep, tuning half only (target {TARGET}; chosen: the smallest reaching it; "
          f"in use: {SHORTAGE_FACTOR:g})")
    print(f"  {'factor':<30}{'fill':>8}{'stock value':>13}{'orders':>8}{'stockouts':>10}{'far below':>11}")
    for factor in FACTORS:
        rp = prepare(history, start=start, periods=HORIZON * N_ORIGINS, replan_every=HORIZON,
                     service_level=TARGET, forecaster=forecasts, shortage_factor=factor, **PARAMS)
        print(row(f"{factor:g}", rp.outcome(rp.trace_ours(), tuning_half(rp.panel.skus))))


def time_plan(data: Path) -> int:
    """One plan for every SKU on the whole history (as /ml/plan does), forecast included: wall and CPU time."""
    history = weekly_history(read_transactions(data))
    before = os.getloadavg()[0]
    start, cpu = time.perf_counter(), time.process_time()
    plan = plan_replenishment(history, ordering_cost=10.0, lead_time=2, plan_periods=HORIZON)
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu
    load = os.getloadavg()[0]
    print(f"one plan for {len(plan)} SKUs: {wall:.1f} s wall, {cpu:.1f} s CPU (all threads); "
          f"{os.cpu_count()} cores, load average {before:.2f} before, {load:.2f} after")
    ok = wall <= 60.0
    print(f"  {'PASS' if ok else 'FAIL'}  {wall:.1f} s <= 60 s")
    return 0 if ok else 1


def run(data: Path, cache: Path | None, with_sweep: bool) -> int:
    history = weekly_history(read_transactions(data))
    weeks = history["date"].nunique()
    start = weeks - HORIZON * N_ORIGINS
    forecasts = Forecasts(cache)
    if with_sweep:
        sweep(history, start, forecasts)
    replays = {}
    for level in LEVELS:
        replays[level] = prepare(history, start=start, periods=HORIZON * N_ORIGINS, replan_every=HORIZON,
                                 service_level=level, forecaster=forecasts, **PARAMS)
    replay = replays[TARGET]
    skus = replay.panel.skus
    tune = tuning_half(skus)
    dates = replay.panel.dates
    print(f"data: {data.resolve()}\nSKUs: {len(skus)} ({int(tune.sum())} tuning, {int((~tune).sum())} confirmation), "
          f"weeks: {weeks}; simulated {dates[start].date()} .. {dates[start + HORIZON * N_ORIGINS - 1].date()}, "
          f"re-planned at {', '.join(str(dates[o].date()) for o in replay.origins)}; target fill rate {TARGET}")
    results = {}
    halves = (("tuning half", tune), ("confirmation half", ~tune), ("all dev SKUs", np.ones(len(skus), bool)))
    for label, mask in halves:
        results[label] = half_report(replay, mask, label)
    print("\nours by demand segment (fill rate; tuning / confirmation)")
    segments = replay.plans[0]["segment"].to_numpy()
    trace = replay.trace_ours()
    for seg in ("smooth", "erratic", "intermittent", "lumpy"):
        parts = [replay.outcome(trace, (segments == seg) & m) for m in (tune, ~tune)]
        print(f"  {seg:<14}{parts[0].fill_rate:8.4f} /{parts[1].fill_rate:8.4f}  "
              f"({int(((segments == seg) & tune).sum())} / {int(((segments == seg) & ~tune).sum())} SKUs)")
    print("\nwhat a service-level change costs (ours; tuning half, then confirmation half)")
    print(f"  {'target':<30}{'fill':>8}{'stock value':>13}{'orders':>8}{'stockouts':>10}{'far below':>11}")
    for label, mask in (("tuning", tune), ("confirmation", ~tune)):
        for level, rp in replays.items():
            print(row(f"{level:.2f} {label}", rp.outcome(rp.trace_ours(), mask)))
    ours, _, tuned, _ = results["confirmation half"]
    first = replays[LEVELS[0]]  # planned first: its times include the forecasts (unless cached)
    plan_seconds = max(first.plan_seconds)
    checks = [
        (f"confirmation fill rate {ours.fill_rate:.4f} within 0.01 of {TARGET}", abs(ours.fill_rate - TARGET) <= 0.01),
        (f"confirmation stock value {ours.stock_value:,.0f} <= 0.90 x tuned textbook {tuned.stock_value:,.0f} "
         f"(ratio {ours.stock_value / tuned.stock_value:.3f})", ours.stock_value <= 0.90 * tuned.stock_value),
    ]
    if forecasts.seconds > 0:  # a time only means something when the forecasts were computed in this run
        checks.append((f"one plan for all {len(skus)} SKUs {plan_seconds:.1f} s <= 60 s", plan_seconds <= 60.0))
    print("\ngoal checks:")
    for text, ok in checks:
        print(f"  {'PASS' if ok else 'FAIL'}  {text}")
    load = os.getloadavg()
    times = ", ".join(f"{s:.1f}" for s in first.plan_seconds)
    source = "forecasts read from the cache" if forecasts.seconds == 0 else f"forecasting {forecasts.seconds:.1f} s"
    print(f"\nplan times at the three origins, forecast included: {times} s ({source}); "
          f"{os.cpu_count()} cores, load average now {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    return 0 if all(ok for _, ok in checks) else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="transactions CSV (.csv or .csv.xz)")
    parser.add_argument("--cache", type=Path, default=None, help="keep forecasts here (experiments; times then "
                                                                  "exclude forecasting)")
    parser.add_argument("--sweep", action="store_true", help="first print the tuning half's shortage-factor sweep")
    parser.add_argument("--time-plan", action="store_true", help="only time one plan of every SKU (forecast "
                                                                   "included) on the whole history")
    args = parser.parse_args()
    return time_plan(args.data) if args.time_plan else run(args.data, args.cache, args.sweep)


if __name__ == "__main__":
    raise SystemExit(main())
