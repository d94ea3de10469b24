"""Exact limits shared by every gateway process: one Lua script, one Redis round trip per request.

The script applies the same rules as :mod:`memory` (a GCRA cell for the burst, bucketed sliding windows
of constant size for minute and hour) on Redis's own clock (``TIME``), so processes with skewed clocks
still agree; it runs atomically, so the counts are exact across processes.
All three keys of a client share a hash tag, so the script also runs on a Redis Cluster.

When Redis cannot be reached, or does not answer within the client's timeout, the limiter falls back to
a local :class:`MemoryLimiter` (counted; logged once per outage) until a background probe gets an
answer, or refuses with 503 when configured to fail closed.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from sync.errors import UpstreamUnavailable
from sync.gateway.models import RateLimit
from sync.gateway.ratelimit.decision import Decision
from sync.gateway.ratelimit.memory import MemoryLimiter
from sync.gateway.ratelimit.resp import RespError, RespReplyError
from sync.gateway.ratelimit.script_client import ScriptClient

log = logging.getLogger("sync.gateway.ratelimit")

# Times in milliseconds (floats); returned as strings to keep their fractions. A window's hash holds
# 'h' (newest bucket index), 'n' (requests counted) and, per ring slot, "count:latest admission".
# ARGV[4], the time, is for tests replaying a trace; the gateway never sends it (Redis's clock is used).
LUA = """
local now
if ARGV[4] then
  now = tonumber(ARGV[4])
else
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
end
local BUCKETS = 60
local RING = BUCKETS + 1

local function parse(v)
  local c, l = string.match(v, '^(%d+):(.+)$')
  return tonumber(c), tonumber(l)
end

local function open(key, length)
  local b = math.floor(now / (length / BUCKETS))
  local cur, oldest = b % RING, (b + 1) % RING
  local st = redis.call('HMGET', key, 'h', 'n', cur, oldest)
  local head = tonumber(st[1])
  local w = {key = key, length = length, b = b, cur = cur, total = tonumber(st[2]) or 0, curv = st[3],
             changed = false}
  local ov = st[4]
  if head == nil or b - head > BUCKETS then
    if head ~= nil then redis.call('DEL', key) end
    w.total, w.curv, ov, w.changed = 0, false, false, head ~= nil
  elseif b > head then
    local slots = {}
    for j = head + 1, b do slots[#slots + 1] = j % RING end
    local old = redis.call('HMGET', key, unpack(slots))
    for i = 1, #old do
      if old[i] then w.total = w.total - parse(old[i]) end
    end
    redis.call('HDEL', key, unpack(slots))
    w.curv, w.changed = false, true
  end
  if ov then
    local c, l = parse(ov)
    if l <= now - length then
      w.total = w.total - c
      redis.call('HDEL', key, oldest)
      w.changed = true
    end
  end
  return w
end

local function wait(w, need)
  local slots = {}
  for j = w.b - BUCKETS, w.b do slots[#slots + 1] = j % RING end
  local vals = redis.call('HMGET', w.key, unpack(slots))
  local freed = 0
  for i = 1, #vals do
    if vals[i] then
      local c, l = parse(vals[i])
      freed = freed + c
      if freed >= need then return l + w.length - now end
    end
  end
  return w.length
end

local function add(w)
  local c = 0
  if w.curv then c = parse(w.curv) end
  redis.call('HSET', w.key, w.cur, (c + 1) .. ':' .. string.format('%.3f', now), 'n', w.total + 1, 'h', w.b)
  redis.call('PEXPIRE', w.key, w.length + 1000)
end

local function save(w)
  if w.changed then
    redis.call('HSET', w.key, 'n', w.total, 'h', w.b)
    redis.call('PEXPIRE', w.key, w.length + 1000)
  end
end

local rpm = tonumber(ARGV[1])
local rph = tonumber(ARGV[2])
local burst = tonumber(ARGV[3])
local interval = 60000 / rpm
local tolerance = interval * (burst - 1)
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
local retry = 0
if tat - now > tolerance then retry = tat - tolerance - now end
local m = open(KEYS[2], 60000)
local h = open(KEYS[3], 3600000)
if m.total >= rpm then
  local w = wait(m, m.total - rpm + 1)
  if w > retry then retry = w end
end
if h.total >= rph then
  local w = wait(h, h.total - rph + 1)
  if w > retry then retry = w end
end
if retry > 0 then
  save(m)
  save(h)
  return {0, 0, string.format('%.3f', retry)}
end
tat = tat + interval
redis.call('SET', KEYS[1], string.format('%.3f', tat), 'PX', math.ceil(tat - now) + 1000)
add(m)
add(h)
local remaining = math.min(math.floor((now + tolerance - tat) / interval) + 1, rpm - m.total - 1, rph - h.total - 1)
local reset = tat - now
if remaining <= 0 then
  local w = wait(m, 1)
  if w > reset then reset = w end
end
return {1, remaining, string.format('%.3f', reset)}
"""

_PROBE_EVERY = 0.5  # seconds between background probes while Redis is known bad


class RedisLimiter:
    """``client`` runs the script (one per process, see :mod:`~sync.gateway.ratelimit.script_client`);
    :meth:`aclose` closes it.

    A circuit around the client: the first failed call (no connection, or no reply within the client's
    timeout) marks Redis down, logged once. While it is down no request touches Redis (each gets the
    local limits, or 503 when failing closed, at once) and a background task runs the script on a
    probe key every ``probe_every`` seconds; the first answer marks it up again (logged once) and
    requests go back to Redis. So a hung Redis delays only the requests already waiting on it, by at
    most the timeout.
    """

    backend: str = "redis"

    def __init__(self, client: ScriptClient, *, fail_closed: bool, on_error: Callable[[], None],
                 prefix: str = "gw:rl", probe_every: float = _PROBE_EVERY) -> None:
        self._client = client
        self._fail_closed = fail_closed
        self._on_error = on_error
        self._prefix = prefix
        self._probe_every = probe_every
        self._fallback = MemoryLimiter()
        self.down = False
        self._probe: asyncio.Task[None] | None = None
        self._next_reply_log = 0.0
        self.failed_calls = 0  # calls that went to Redis and failed (each waited at most the timeout)
        self.shortcuts = 0  # requests answered locally without touching Redis, since it was known down

    async def check(self, key: str, limit: RateLimit) -> Decision:
        if self.down:
            self.shortcuts += 1
            return self._degraded(key, limit)
        base = f"{self._prefix}:{{{key}}}"
        try:
            allowed, remaining, ms = await self._client.run_script(
                LUA, [base + ":t", base + ":bm", base + ":bh"],
                [limit.requests_per_minute, limit.requests_per_hour, limit.burst_limit])
        except RespReplyError as exc:  # Redis is up but refused the script: this request only
            self._reply_error(exc)
            return self._degraded(key, limit)
        except (RespError, OSError) as exc:
            self.failed_calls += 1
            self._mark_down(exc)
            return self._degraded(key, limit)
        seconds = float(ms) / 1000
        if int(allowed):
            return Decision(True, int(remaining), seconds, 0.0)
        return Decision(False, 0, seconds, seconds)

    def _reply_error(self, exc: Exception) -> None:
        now = time.monotonic()
        if now >= self._next_reply_log:  # at most one line a minute
            self._next_reply_log = now + 60.0
            log.error("rate limiter: Redis refused the limit script (%s); %s for the requests it refuses",
                      exc, "refusing (503)" if self._fail_closed else "using local limits")

    def _mark_down(self, exc: Exception) -> None:
        if self.down:
            return
        self.down = True
        log.error("rate limiter: Redis unreachable (%s); %s until it answers again", exc,
                  "refusing requests (503)" if self._fail_closed else "using local limits")
        self._probe = asyncio.get_running_loop().create_task(self._wait_until_up(), name="rate-limit-redis-probe")

    async def _wait_until_up(self) -> None:
        """Probe with the limiter's own script (on a key of its own), not PING: a Redis that answers PING
        but runs no script in time (paused writes, overload) must stay down rather than flap."""
        base = f"{self._prefix}:{{probe}}"
        while True:
            await asyncio.sleep(self._probe_every)
            try:
                await self._client.run_script(LUA, [base + ":t", base + ":bm", base + ":bh"], [1, 1, 1])
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

    async def ping(self) -> None:
        """Raise :class:`RespError` while Redis is known down (the fallback applies), or when it does not
        answer PING now."""
        if self.down:
            raise RespError("the rate limiter found Redis unreachable or too slow; local limits apply")
        await self._client.ping()

    async def aclose(self) -> None:
        """Stop the probe and close the connection; the next check (after a restart) tries Redis afresh."""
        probe, self._probe = self._probe, None
        if probe is not None:
            probe.cancel()
            await asyncio.gather(probe, return_exceptions=True)
        self.down = False
        await self._client.aclose()
