"""When a failed attempt may be repeated, and the budget that keeps retries from multiplying an outage.

Only idempotent requests are retried (GET, HEAD, OPTIONS, PUT, DELETE, TRACE, or any request carrying
``Idempotency-Key``), and only after a connection failure, a timeout, or a 502/503/504. The budget
(Finagle/Envoy style) lets retries add at most ``ratio`` of the request volume, plus a small floor per
second so a quiet gateway can still retry.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE"})
RETRY_STATUSES = frozenset({502, 503, 504})


@dataclass(slots=True)
class RetryBudget:
    ratio: float = 0.2  # retries earned per request
    floor_per_second: float = 5.0  # retries earned per second regardless of traffic (also the starting balance)
    cap: float = 100.0  # most retries that can be saved up
    clock: Callable[[], float] = time.monotonic
    _balance: float = field(init=False)
    _last: float = field(init=False)

    def __post_init__(self) -> None:
        self._balance = self.floor_per_second
        self._last = self.clock()

    def deposit(self) -> None:
        """Called once per request: each request earns ``ratio`` of a retry."""
        balance = self._balance + self.ratio
        self._balance = balance if balance < self.cap else self.cap

    def withdraw(self) -> bool:
        """Take one retry if the budget has it."""
        now = self.clock()
        self._balance = min(self.cap, self._balance + (now - self._last) * self.floor_per_second)
        self._last = now
        if self._balance >= 1.0:
            self._balance -= 1.0
            return True
        return False
