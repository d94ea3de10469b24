"""Exact limits in one process: a GCRA cell for the burst plus sliding-window logs for minute and hour.

A window's log never holds more than its limit (a request is admitted only below it), so memory per
client and rule is bounded by the limits.
Used when no Redis is configured, and as the fallback when Redis cannot be reached. Everything runs
between two awaits, so on one event loop a check-and-consume is atomic without a lock.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable

from sync.gateway.models import RateLimit
from sync.gateway.ratelimit.decision import Decision

_SWEEP_EVERY = 60.0


class _State:
    __slots__ = ("hour", "minute", "tat")

    def __init__(self, now: float) -> None:
        self.tat = now
        self.minute: deque[float] = deque()
        self.hour: deque[float] = deque()


class MemoryLimiter:
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._states: dict[str, _State] = {}
        self._next_sweep = clock() + _SWEEP_EVERY

    async def check(self, key: str, limit: RateLimit) -> Decision:
        return self.check_now(key, limit)

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
        while minute and minute[0] <= now - 60.0:
            minute.popleft()
        while hour and hour[0] <= now - 3600.0:
            hour.popleft()
        rpm, rph = limit.requests_per_minute, limit.requests_per_hour
        if len(minute) >= rpm:
            retry = max(retry, minute[len(minute) - rpm] + 60.0 - now)
        if len(hour) >= rph:
            retry = max(retry, hour[len(hour) - rph] + 3600.0 - now)
        if retry > 0:
            return Decision(False, 0, retry, retry)
        tat += interval
        state.tat = tat
        minute.append(now)
        hour.append(now)
        remaining = min(int((now + tolerance - tat) / interval) + 1, rpm - len(minute), rph - len(hour))
        reset = max(tat - now, minute[0] + 60.0 - now if remaining <= 0 else 0.0)
        return Decision(True, remaining, reset, 0.0)

    def _sweep(self, now: float) -> None:
        """Forget clients idle for an hour, so the table does not grow without bound."""
        self._next_sweep = now + _SWEEP_EVERY
        stale = [k for k, s in self._states.items() if s.tat <= now and (not s.hour or s.hour[-1] <= now - 3600)]
        for key in stale:
            del self._states[key]
