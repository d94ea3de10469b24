"""Per-instance circuit breaker: closed -> open -> half-open -> closed.

Closed counts consecutive failures; at ``threshold`` it opens and the instance gets no traffic. After
``timeout`` seconds it turns half-open and lets exactly one probe through: success closes it, failure
opens it again for another ``timeout``. Transitions are logged with the instance name and counted.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from enum import StrEnum

log = logging.getLogger("sync.gateway.breaker")


class BreakerState(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


Listener = Callable[[str, BreakerState, float], None]


class CircuitBreaker:
    __slots__ = ("_clock", "_listener", "failures", "name", "opened_until", "probe_in_flight", "state",
                 "threshold", "timeout")

    def __init__(self, name: str, threshold: int, timeout: float, clock: Callable[[], float],
                 listener: Listener | None = None) -> None:
        self.name = name
        self.threshold = threshold
        self.timeout = timeout
        self._clock = clock
        self._listener = listener
        self.state = BreakerState.CLOSED
        self.failures = 0
        self.opened_until = 0.0
        self.probe_in_flight = False

    def available(self) -> bool:
        """May a request be sent now? (Does not claim the half-open probe; :meth:`acquire` does.)"""
        if self.state is BreakerState.CLOSED:
            return True
        if self.state is BreakerState.OPEN:
            return self._clock() >= self.opened_until
        return not self.probe_in_flight

    def acquire(self) -> bool:
        """Claim the right to send one request; in half-open only one caller gets it."""
        if self.state is BreakerState.CLOSED:
            return True
        if self.state is BreakerState.OPEN:
            if self._clock() < self.opened_until:
                return False
            self._move(BreakerState.HALF_OPEN)
        if self.probe_in_flight:
            return False
        self.probe_in_flight = True
        return True

    def release(self) -> None:
        """Give back a claim that was not used (the request was never sent)."""
        self.probe_in_flight = False

    def record_success(self) -> None:
        self.failures = 0
        if self.state is not BreakerState.CLOSED:
            self.probe_in_flight = False
            self._move(BreakerState.CLOSED)

    def record_failure(self) -> None:
        self.failures += 1
        if self.state is BreakerState.HALF_OPEN or (
            self.state is BreakerState.CLOSED and self.failures >= self.threshold
        ):
            self.probe_in_flight = False
            self.open_until(self._clock() + self.timeout)

    def open_until(self, deadline: float) -> None:
        """Open (or keep open) until ``deadline`` on this process's clock; also used for shared state."""
        self.opened_until = max(self.opened_until, deadline) if self.state is BreakerState.OPEN else deadline
        if self.state is not BreakerState.OPEN:
            self._move(BreakerState.OPEN)

    def retry_after(self) -> float:
        """Seconds until this breaker lets a probe through (0 when it already would)."""
        if self.state is BreakerState.OPEN:
            return max(0.0, self.opened_until - self._clock())
        return 0.0

    def _move(self, state: BreakerState) -> None:
        previous, self.state = self.state, state
        log.warning("circuit breaker %s: %s -> %s (failures=%d)", self.name, previous.value, state.value,
                    self.failures)
        if state is BreakerState.CLOSED:
            self.failures = 0
        if self._listener is not None:
            self._listener(self.name, state, self.opened_until)
