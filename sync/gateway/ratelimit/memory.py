"""Limits in one process: a GCRA cell for the burst plus bucketed sliding windows for minute and hour.

Each window of ``W`` seconds is cut into ``BUCKETS`` (60) buckets of ``W / 60`` seconds (1 s for the
minute, 60 s for the hour), and keeps per bucket how many requests it admitted and when the latest of
them came. A bucket counts as a whole until its latest request is ``W`` old. So every request of the
exact sliding window is counted (a window never admits more than its limit), and a request is counted at
most one bucket width longer than the exact sliding log would count it (a refill comes at most 1 s late
for the minute, 60 s for the hour; a burst at one instant refills exactly on time). Memory per client and
rule is constant (61 buckets per window), whatever the limits; ``bench/ratelimit_accuracy.py`` measures
the admission error against the exact log on a replayed trace. :mod:`redis_limiter` runs the same
algorithm in Lua.

Used when no Redis is configured, and as the fallback when Redis cannot be reached. Everything runs
between two awaits, so on one event loop a check-and-consume is atomic without a lock.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

from sync.gateway.models import RateLimit
from sync.gateway.ratelimit.decision import Decision

_SWEEP_EVERY = 60.0
BUCKETS = 60  # per window; the ring holds BUCKETS + 1 (the oldest may still be partly inside the window)
_RING = BUCKETS + 1


class Window:
    """One sliding window of ``length`` seconds as a ring of bucket counts and latest admission times.

    ``edge`` is the first time at which the count can drop (the next bucket boundary, or the oldest
    bucket's expiry if sooner): before it, ``total`` is the count, so the hot path is one comparison.
    """

    __slots__ = ("counts", "cur", "edge", "head", "lasts", "length", "memo", "memo_at", "total", "width")

    def __init__(self, length: float) -> None:
        self.length = length
        self.width = length / BUCKETS
        self.counts = [0] * _RING
        self.lasts = [0.0] * _RING
        self.head = -1  # the newest bucket index seen (-1: none yet)
        self.cur = 0  # its slot in the ring
        self.total = 0
        self.edge = 0.0
        self.memo: tuple[int, ...] = ()  # what the last wait() answer was computed from
        self.memo_at = 0.0

    def count(self, now: float) -> int:
        """Admitted requests still counted at ``now`` (drops the buckets that left the window)."""
        if now < self.edge:
            return self.total
        b = int(now // self.width)
        head = self.head
        counts = self.counts
        if b > head:
            if head < 0 or b - head > BUCKETS:
                if self.total:
                    counts = self.counts = [0] * _RING
                    self.total = 0
            else:
                total = self.total
                for j in range(head + 1, b + 1):
                    slot = j % _RING
                    total -= counts[slot]
                    counts[slot] = 0
                self.total = total
            self.head = b
            self.cur = b % _RING
        oldest = (b + 1) % _RING
        edge = (b + 1) * self.width
        if counts[oldest]:
            expiry = self.lasts[oldest] + self.length
            if expiry <= now:
                self.total -= counts[oldest]
                counts[oldest] = 0
            elif expiry < edge:
                edge = expiry
        self.edge = edge
        return self.total

    def add(self, now: float) -> None:
        """Count one admitted request (after :meth:`count` at the same ``now``)."""
        slot = self.cur
        self.counts[slot] += 1
        self.lasts[slot] = now
        self.total += 1

    def wait(self, now: float, need: int) -> float:
        """Seconds until ``need`` counted requests have left the window (oldest buckets first).

        Remembered until the count changes, so a client flooding a full window costs one ring walk per
        change rather than one per refused request."""
        # within one head bucket the count only grows in the newest slot and shrinks in the oldest, so
        # equal (total, newest count) means nothing changed
        memo = (need, self.total, self.head, self.counts[self.cur])
        if memo == self.memo:
            return self.memo_at - now
        at = now + self.length
        freed = 0
        for j in range(self.head - BUCKETS, self.head + 1):
            slot = j % _RING
            freed += self.counts[slot]
            if freed >= need:
                at = self.lasts[slot] + self.length
                break
        self.memo, self.memo_at = memo, at
        return at - now

    def idle(self, now: float) -> bool:
        return self.count(now) == 0


class _State:
    __slots__ = ("hour", "minute", "tat")

    def __init__(self, now: float) -> None:
        self.tat = now
        self.minute = Window(60.0)
        self.hour = Window(3600.0)


class MemoryLimiter:
    """A :class:`~sync.gateway.ratelimit.limiter.Limiter` whose counts live in this process."""

    backend: str = "memory"

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._states: dict[str, _State] = {}
        self._next_sweep = clock() + _SWEEP_EVERY

    async def check(self, key: str, limit: RateLimit) -> Decision:
        return self.check_now(key, limit)

    async def ping(self) -> None:
        """Nothing to reach: local limits always apply."""

    async def aclose(self) -> None:
        """Nothing to release (the counts stay: a gateway started again keeps its clients' allowances)."""

    def check_now(self, key: str, limit: RateLimit) -> Decision:
        now = self._clock()
        if now >= self._next_sweep:
            self._sweep(now)
        state = self._states.get(key)
        if state is None:
            state = self._states[key] = _State(now)
        interval = 60.0 / limit.requests_per_minute
        tolerance = interval * (limit.burst_limit - 1)
        tat = state.tat if state.tat > now else now
        retry = tat - tolerance - now if tat - now > tolerance else 0.0
        minute, hour = state.minute, state.hour
        mcount = minute.total if now < minute.edge else minute.count(now)
        hcount = hour.total if now < hour.edge else hour.count(now)
        rpm, rph = limit.requests_per_minute, limit.requests_per_hour
        if mcount >= rpm:
            retry = max(retry, minute.wait(now, mcount - rpm + 1))
        if hcount >= rph:
            retry = max(retry, hour.wait(now, hcount - rph + 1))
        if retry > 0:
            return Decision(False, 0, retry, retry)
        tat += interval
        state.tat = tat
        slot = minute.cur  # Window.add, inlined: this is the hot path
        minute.counts[slot] += 1
        minute.lasts[slot] = now
        minute.total += 1
        slot = hour.cur
        hour.counts[slot] += 1
        hour.lasts[slot] = now
        hour.total += 1
        remaining = min(math.floor((now + tolerance - tat) / interval) + 1, rpm - mcount - 1, rph - hcount - 1)
        reset = max(tat - now, minute.wait(now, 1) if remaining <= 0 else 0.0)
        return Decision(True, remaining, reset, 0.0)

    def _sweep(self, now: float) -> None:
        """Forget clients idle for an hour, so the table does not grow without bound."""
        self._next_sweep = now + _SWEEP_EVERY
        stale = [k for k, s in self._states.items() if s.tat <= now and s.hour.idle(now)]
        for key in stale:
            del self._states[key]
