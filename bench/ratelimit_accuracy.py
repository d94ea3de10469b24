"""Admission error of the gateway's bucketed windows against the exact sliding log, on a replayed trace.

The trace is synthetic and seeded (no tuning: the bucket count, 60 per window, was fixed before this
ran): clients with different limits and arrival patterns (Poisson below, at and above the limit, on-off
bursts, a client bound by its hourly limit), replayed request by request through two limiters on a fake
clock: ``ExactLimiter`` (the gateway's previous algorithm: GCRA burst + exact sliding-window logs, one
entry per admitted request) and ``sync.gateway.ratelimit.memory.MemoryLimiter`` (GCRA + 60 buckets per
window, constant memory). Each limiter's own decisions feed its own state, as in production.

Printed per client and overall: requests, admitted by each and the difference; the bucketed limiter's
wrong decisions counted one by one against an exact log fed with its own admissions; and the most
requests it admitted in any 60 s / 3600 s window (must not pass the limit).
Then the memory one client's state holds after 100,000 admissions under a limit of 1,000,000 an hour.

    python bench/ratelimit_accuracy.py [--hours 3] [--seed 7]
"""

from __future__ import annotations

import argparse
import bisect
import random
import sys
import tracemalloc
from collections import deque
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sync.gateway.models import RateLimit
from sync.gateway.ratelimit.memory import MemoryLimiter


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class ExactLimiter:
    """The previous in-memory limiter: GCRA for the burst, exact sliding logs for minute and hour."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.states: dict[str, tuple[list[float], deque[float], deque[float]]] = {}

    def check_now(self, key: str, limit: RateLimit) -> bool:
        if not self.would_admit(key, limit):
            return False
        self.admit(key, limit)
        return True

    def would_admit(self, key: str, limit: RateLimit) -> bool:
        now = self.clock()
        tat_box, minute, hour = self.states.setdefault(key, ([now], deque(), deque()))
        tolerance = 60.0 / limit.requests_per_minute * (limit.burst_limit - 1)
        while minute and minute[0] <= now - 60.0:
            minute.popleft()
        while hour and hour[0] <= now - 3600.0:
            hour.popleft()
        return not (max(tat_box[0], now) - now > tolerance or len(minute) >= limit.requests_per_minute
                    or len(hour) >= limit.requests_per_hour)

    def admit(self, key: str, limit: RateLimit) -> None:
        now = self.clock()
        tat_box, minute, hour = self.states[key]
        tat_box[0] = max(tat_box[0], now) + 60.0 / limit.requests_per_minute
        minute.append(now)
        hour.append(now)


@dataclass
class Client:
    name: str
    limit: RateLimit
    times: list[float]


def poisson(rng: random.Random, per_minute: float, seconds: float, start: float = 0.0) -> list[float]:
    out, t = [], start
    while True:
        t += rng.expovariate(per_minute / 60.0)
        if t >= start + seconds:
            return out
        out.append(t)


def on_off(rng: random.Random, per_second: float, on: float, off: float, seconds: float) -> list[float]:
    out: list[float] = []
    t = rng.uniform(0, on + off)
    while t < seconds:
        out.extend(poisson(rng, per_second * 60, on, t))
        t += on + off
    return [x for x in out if x < seconds]


def trace(seed: int, hours: float) -> list[Client]:
    rng = random.Random(seed)
    span = hours * 3600
    minute_bound = RateLimit(requests_per_minute=60, requests_per_hour=100_000, burst_limit=60)
    return [
        Client("poisson 0.8x minute limit", minute_bound, poisson(rng, 48, span)),
        Client("poisson 1.0x minute limit", minute_bound, poisson(rng, 60, span)),
        Client("poisson 1.5x minute limit", minute_bound, poisson(rng, 90, span)),
        Client("poisson 3x, burst 10", RateLimit(requests_per_minute=200, requests_per_hour=100_000,
                                                 burst_limit=10), poisson(rng, 600, span)),
        Client("on-off 20 s on / 40 s off", RateLimit(requests_per_minute=600, requests_per_hour=100_000,
                                                      burst_limit=300), on_off(rng, 40, 20, 40, span)),
        Client("hour-bound (3000/h) at 80/min", RateLimit(requests_per_minute=100, requests_per_hour=3000,
                                                          burst_limit=20), poisson(rng, 80, span)),
        Client("large limit 1M/h at 2x minute limit", RateLimit(requests_per_minute=1000,
                                                                requests_per_hour=1_000_000, burst_limit=1000),
               poisson(rng, 2000, span)),
    ]


def max_in_window(admitted: list[float], window: float) -> int:
    best, lo = 0, 0
    for hi, t in enumerate(admitted):
        lo = bisect.bisect_right(admitted, t - window, lo, hi)
        best = max(best, hi - lo + 1)
    return best


def replay(client: Client) -> dict[str, float]:
    """Both limiters on the same arrivals; plus, for the bucketed one, what the exact rule would have
    decided on the bucketed limiter's own history (a shadow exact log fed with its admissions), which
    counts its wrong decisions one by one: refusals the exact log would have admitted, and admissions
    it would have refused."""
    clock = Clock()
    exact, bucketed, shadow = ExactLimiter(clock), MemoryLimiter(clock), ExactLimiter(clock)
    a_exact: list[float] = []
    a_bucket: list[float] = []
    wrong_refusals = wrong_admissions = 0
    for t in client.times:
        clock.now = t
        if exact.check_now("k", client.limit):
            a_exact.append(t)
        would = shadow.would_admit("k", client.limit)
        if bucketed.check_now("k", client.limit).allowed:
            a_bucket.append(t)
            shadow.admit("k", client.limit)
            wrong_admissions += not would
        else:
            wrong_refusals += would
    return {"requests": len(client.times), "exact": len(a_exact), "bucketed": len(a_bucket),
            "wrong_refusals": wrong_refusals, "wrong_admissions": wrong_admissions,
            "max_minute": max_in_window(a_bucket, 60.0), "max_hour": max_in_window(a_bucket, 3600.0)}


def state_bytes(limiter_kind: str, admissions: int) -> int:
    clock = Clock()
    limit = RateLimit(requests_per_minute=1_000_000, requests_per_hour=1_000_000, burst_limit=1_000_000)
    limiter: ExactLimiter | MemoryLimiter = ExactLimiter(clock) if limiter_kind == "exact" else MemoryLimiter(clock)
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    for i in range(admissions):
        clock.now = 1.0 + i * 0.03  # 100,000 requests over 50 minutes: all still in the hour window
        limiter.check_now("k", limit)
    used = tracemalloc.get_traced_memory()[0] - base
    tracemalloc.stop()
    return used


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--hours", type=float, default=3.0, help="simulated hours of traffic (default 3)")
    parser.add_argument("--seed", type=int, default=7, help="trace seed (default 7)")
    args = parser.parse_args()
    keys = ("requests", "exact", "bucketed", "wrong_refusals", "wrong_admissions")
    total = dict.fromkeys(keys, 0)
    print(f"trace: seed {args.seed}, {args.hours:g} simulated hours; bucketed = 60 buckets per window")
    print(f"{'client':38} {'requests':>9} {'exact':>8} {'bucketed':>8} {'diff':>7} {'wrong refusals':>15} "
          f"{'wrong adm.':>10} {'max/60s':>12} {'max/3600s':>14}")
    for client in trace(args.seed, args.hours):
        r = replay(client)
        for key in keys:
            total[key] += int(r[key])
        lim = client.limit
        assert r["max_minute"] <= lim.requests_per_minute and r["max_hour"] <= lim.requests_per_hour
        print(f"{client.name:38} {r['requests']:9d} {r['exact']:8d} {r['bucketed']:8d} "
              f"{(r['bucketed'] - r['exact']) / max(1, r['exact']):+7.2%} "
              f"{r['wrong_refusals']:6d} ({r['wrong_refusals'] / r['requests']:5.2%}) {r['wrong_admissions']:10d} "
              f"{r['max_minute']:5d}/{lim.requests_per_minute:<6d} {r['max_hour']:6d}/{lim.requests_per_hour:<7d}")
    print(f"{'all':38} {total['requests']:9d} {total['exact']:8d} {total['bucketed']:8d} "
          f"{(total['bucketed'] - total['exact']) / total['exact']:+7.2%} "
          f"{total['wrong_refusals']:6d} ({total['wrong_refusals'] / total['requests']:5.2%}) "
          f"{total['wrong_admissions']:10d}")
    print("diff: admitted by bucketed vs by the exact log on the same arrivals. wrong refusals/admissions: the\n"
          "bucketed limiter's decisions that the exact log, given the bucketed limiter's own history, would have\n"
          "made the other way (share of all requests). max: most admitted by bucketed in any window / the limit.")
    for n in (1_000, 100_000):
        print(f"memory of one client's state after {n:,} admissions (limit 1M/h): exact log "
              f"{state_bytes('exact', n) / 1024:,.0f} KiB, bucketed {state_bytes('bucketed', n) / 1024:,.1f} KiB")


if __name__ == "__main__":
    main()
