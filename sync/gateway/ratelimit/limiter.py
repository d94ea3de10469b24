"""The one interface the rate-limit stage talks to, and the one place that picks the limiter behind it.

The choice (in memory, or shared by every gateway process through Redis) is made from the settings when
the gateway is built, before the stage that uses it; nothing swaps it afterwards. A Redis-backed limiter
connects on its first check and falls back to local limits while Redis is down, so it can be built
before the event loop runs and used across start-up and shutdown.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Protocol

from sync.gateway.models import RateLimit
from sync.gateway.ratelimit.decision import Decision
from sync.gateway.ratelimit.memory import MemoryLimiter
from sync.gateway.ratelimit.redis_limiter import RedisLimiter
from sync.gateway.ratelimit.script_client import make_script_client
from sync.settings import Settings


class Limiter(Protocol):
    """Admits or refuses one request of a client under a limit."""

    @property
    def backend(self) -> str:
        """``memory`` or ``redis``: where the counts live (shown by the admin API)."""
        ...

    async def check(self, key: str, limit: RateLimit) -> Decision:
        """Count a request of ``key`` against ``limit`` and say whether it is admitted."""
        ...

    async def ping(self) -> None:
        """Return when the limiter applies its limits as configured; raise (``RespError``, ``OSError``) with
        the reason when it does not (for the health report)."""
        ...

    async def aclose(self) -> None:
        """Release connections and background tasks; the limiter may be used again afterwards."""
        ...


def build_limiter(settings: Settings, *, on_error: Callable[[], None],
                  clock: Callable[[], float] = time.monotonic) -> Limiter:
    """Redis-backed when ``settings.rate_limit_redis_url`` is set (``on_error`` counts the checks Redis
    failed), else in memory."""
    url = settings.rate_limit_redis_url
    if url is None:
        return MemoryLimiter(clock)
    wait = settings.RATE_LIMIT_REDIS_TIMEOUT
    client = make_script_client(settings.RATE_LIMIT_REDIS_CLIENT, url, timeout=wait, connect_timeout=wait)
    return RedisLimiter(client,
                        fail_closed=settings.RATE_LIMIT_FAIL_CLOSED, on_error=on_error)
