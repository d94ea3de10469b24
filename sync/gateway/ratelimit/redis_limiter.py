"""Exact limits shared by every gateway process: one Lua script, one Redis round trip per request.

The script applies the same rules as :mod:`memory` (a GCRA cell for the burst, sliding-window logs
for minute and hour) on Redis's own clock (``TIME``), so processes with skewed clocks still agree.
All three keys of a client share a hash tag, so the script also runs on a Redis Cluster.

When Redis cannot be reached, or does not answer within the client's timeout, the limiter falls back to
a local :class:`MemoryLimiter` (counted; logged once per outage) until a background probe gets an
answer, or refuses with 503 when configured to fail closed.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import os
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

_PROBE_EVERY = 0.5  # seconds between background PINGs while Redis is known bad


class RedisLimiter:
    """``client`` is the pipelined :class:`RespClient` (one per process); the limiter does not close it.

    A circuit around the client: the first failed call (no connection, or no reply within the client's
    timeout) marks Redis down, logged once. While it is down no request touches Redis (each gets the
    local limits, or 503 when failing closed, at once) and a background task PINGs it every
    ``probe_every`` seconds; the first answer marks it up again (logged once) and requests go back to
    Redis. So a hung Redis delays only the requests already waiting on it, by at most the timeout.
    """

    def __init__(self, client: RespClient, *, fail_closed: bool, on_error: Callable[[], None],
                 prefix: str = "gw:rl", probe_every: float = _PROBE_EVERY) -> None:
        self._client = client
        self._fail_closed = fail_closed
        self._on_error = on_error
        self._prefix = prefix
        self._probe_every = probe_every
        self._fallback = MemoryLimiter()
        self.down = False
        self._probe: asyncio.Task[None] | None = None
        self._ids = itertools.count()
        self._pid = os.getpid()
        self.failed_calls = 0  # calls that went to Redis and failed (each waited at most the timeout)
        self.shortcuts = 0  # requests answered locally without touching Redis, since it was known down

    async def check(self, key: str, limit: RateLimit) -> Decision:
        if self.down:
            self.shortcuts += 1
            return self._degraded(key, limit)
        base = f"{self._prefix}:{{{key}}}"
        try:
            allowed, remaining, ms = await self._client.run_script(
                LUA, [base + ":t", base + ":m", base + ":h"],
                [limit.requests_per_minute, limit.requests_per_hour, limit.burst_limit,
                 f"{self._pid}.{next(self._ids)}"])
        except (RespError, OSError) as exc:
            self.failed_calls += 1
            self._mark_down(exc)
            return self._degraded(key, limit)
        seconds = float(ms) / 1000
        if int(allowed):
            return Decision(True, int(remaining), seconds, 0.0)
        return Decision(False, 0, seconds, seconds)

    def _mark_down(self, exc: Exception) -> None:
        if self.down:
            return
        self.down = True
        log.error("rate limiter: Redis unreachable (%s); %s until it answers again", exc,
                  "refusing requests (503)" if self._fail_closed else "using local limits")
        self._probe = asyncio.get_running_loop().create_task(self._wait_until_up(), name="rate-limit-redis-probe")

    async def _wait_until_up(self) -> None:
        while True:
            await asyncio.sleep(self._probe_every)
            try:
                if await self._client.ping():
                    break
            except (RespError, OSError) as exc:
                log.debug("rate limiter: Redis still unreachable: %s", exc)
        self.down = False
        self._probe = None
        log.warning("rate limiter: Redis answers again; limits are shared again")

    def _degraded(self, key: str, limit: RateLimit) -> Decision:
        self._on_error()
        if self._fail_closed:
            raise UpstreamUnavailable("rate limiter unavailable (Redis down and RATE_LIMIT_FAIL_CLOSED is set)",
                                      details={"retry_after": self._probe_every})
        return self._fallback.check_now(key, limit)

    async def aclose(self) -> None:
        probe, self._probe = self._probe, None
        if probe is not None:
            probe.cancel()
            await asyncio.gather(probe, return_exceptions=True)
