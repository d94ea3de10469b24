"""Exact limits shared by every gateway process: one Lua script, one Redis round trip per request.

The script applies the same rules as :mod:`memory` (a GCRA cell for the burst, sliding-window logs
for minute and hour) on Redis's own clock (``TIME``), so processes with skewed clocks still agree.
All three keys of a client share a hash tag, so the script also runs on a Redis Cluster.

When Redis cannot be reached the limiter falls back to a local :class:`MemoryLimiter` (logged and
counted) for a short back-off, or refuses with 503 when configured to fail closed.
"""

from __future__ import annotations

import itertools
import logging
import os
import time
from collections.abc import Callable

from sync.errors import UpstreamUnavailable
from sync.gateway.models import RateLimit
from sync.gateway.ratelimit.decision import Decision
from sync.gateway.ratelimit.memory import MemoryLimiter
from sync.gateway.ratelimit.resp import RespClient, RespError

log = logging.getLogger("sync.gateway.ratelimit")

# Times in milliseconds (floats); returned as strings to keep their fractions.
LUA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
local rpm = tonumber(ARGV[1])
local rph = tonumber(ARGV[2])
local burst = tonumber(ARGV[3])
local interval = 60000 / rpm
local tolerance = interval * (burst - 1)
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
local retry = 0
if tat - now > tolerance then retry = tat - tolerance - now end
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now - 60000)
local mcount = redis.call('ZCARD', KEYS[2])
if mcount >= rpm then
  local e = redis.call('ZRANGE', KEYS[2], mcount - rpm, mcount - rpm, 'WITHSCORES')
  local w = tonumber(e[2]) + 60000 - now
  if w > retry then retry = w end
end
redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now - 3600000)
local hcount = redis.call('ZCARD', KEYS[3])
if hcount >= rph then
  local e = redis.call('ZRANGE', KEYS[3], hcount - rph, hcount - rph, 'WITHSCORES')
  local w = tonumber(e[2]) + 3600000 - now
  if w > retry then retry = w end
end
if retry > 0 then
  return {0, 0, string.format('%.3f', retry)}
end
tat = tat + interval
redis.call('SET', KEYS[1], string.format('%.3f', tat), 'PX', math.ceil(tat - now) + 1000)
local member = string.format('%.3f', now) .. ':' .. ARGV[4]
redis.call('ZADD', KEYS[2], now, member)
redis.call('PEXPIRE', KEYS[2], 61000)
redis.call('ZADD', KEYS[3], now, member)
redis.call('PEXPIRE', KEYS[3], 3601000)
local remaining = math.min(math.floor((now + tolerance - tat) / interval) + 1, rpm - mcount - 1, rph - hcount - 1)
local reset = tat - now
if remaining <= 0 then
  local first = redis.call('ZRANGE', KEYS[2], 0, 0, 'WITHSCORES')
  local w = tonumber(first[2]) + 60000 - now
  if w > reset then reset = w end
end
return {1, remaining, string.format('%.3f', reset)}
"""

_BACKOFF = 1.0


class RedisLimiter:
    """``client`` is the pipelined :class:`RespClient` (one per process); the limiter does not close it."""

    def __init__(self, client: RespClient, *, fail_closed: bool, on_error: Callable[[], None],
                 prefix: str = "gw:rl") -> None:
        self._client = client
        self._fail_closed = fail_closed
        self._on_error = on_error
        self._prefix = prefix
        self._fallback = MemoryLimiter()
        self._down_until = 0.0
        self._ids = itertools.count()
        self._pid = os.getpid()

    async def check(self, key: str, limit: RateLimit) -> Decision:
        if self._down_until and time.monotonic() < self._down_until:
            return self._degraded(key, limit, None)
        base = f"{self._prefix}:{{{key}}}"
        try:
            allowed, remaining, ms = await self._client.run_script(
                LUA, [base + ":t", base + ":m", base + ":h"],
                [limit.requests_per_minute, limit.requests_per_hour, limit.burst_limit,
                 f"{self._pid}.{next(self._ids)}"])
        except (RespError, OSError) as exc:
            self._down_until = time.monotonic() + _BACKOFF
            return self._degraded(key, limit, exc)
        self._down_until = 0.0
        seconds = float(ms) / 1000
        if int(allowed):
            return Decision(True, int(remaining), seconds, 0.0)
        return Decision(False, 0, seconds, seconds)

    def _degraded(self, key: str, limit: RateLimit, exc: Exception | None) -> Decision:
        self._on_error()
        if exc is not None:
            log.error("rate limiter: Redis unreachable (%s); %s for %.0fs", exc,
                      "refusing requests" if self._fail_closed else "using local limits", _BACKOFF)
        if self._fail_closed:
            raise UpstreamUnavailable("rate limiter unavailable (Redis down and RATE_LIMIT_FAIL_CLOSED is set)",
                                      details={"retry_after": _BACKOFF})
        return self._fallback.check_now(key, limit)
