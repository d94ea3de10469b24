"""The minute and hour windows take constant memory (in memory and in Redis), never admit more than the
limit in any window, and the Redis script decides exactly as the in-memory limiter on a replayed trace."""

from __future__ import annotations

import bisect
import random
import tracemalloc

import pytest
import redis.asyncio as aioredis

from sync.gateway.models import RateLimit
from sync.gateway.ratelimit.memory import MemoryLimiter
from sync.gateway.ratelimit.redis_limiter import LUA
from sync.gateway.ratelimit.resp import RespClient
from tests.gateway.conftest import FakeClock

BIG = RateLimit(requests_per_minute=1_000_000, requests_per_hour=1_000_000, burst_limit=1_000_000)


def _arrivals(seed: int, n: int) -> list[float]:
    """Bursts and pauses over about two hours, on a 1/64 s grid (exact in binary, in s and in ms)."""
    rng = random.Random(seed)
    t, out = 1000.0, []
    while len(out) < n:
        if rng.random() < 0.02:
            t += rng.choice([30, 61, 200, 900])  # pauses: within a window, just over one, several
        t += rng.randrange(1, 64 * 4) / 64 if rng.random() < 0.5 else 1 / 64
        out.append(t)
    return out


def _max_in_window(times: list[float], window: float) -> int:
    best, lo = 0, 0
    for hi, t in enumerate(times):
        lo = bisect.bisect_right(times, t - window, lo, hi)
        best = max(best, hi - lo + 1)
    return best


@pytest.mark.parametrize("limit", [
    RateLimit(requests_per_minute=20, requests_per_hour=300, burst_limit=20),
    RateLimit(requests_per_minute=60, requests_per_hour=200, burst_limit=5),
    RateLimit(requests_per_minute=7, requests_per_hour=100_000, burst_limit=7),
])
def test_memory_windows_never_admit_more_than_the_limit(limit: RateLimit) -> None:
    clock = FakeClock()
    limiter = MemoryLimiter(clock)
    admitted = []
    for t in _arrivals(1, 5000):
        clock.now = t
        if limiter.check_now("k", limit).allowed:
            admitted.append(t)
    assert _max_in_window(admitted, 60.0) <= limit.requests_per_minute
    assert _max_in_window(admitted, 3600.0) <= limit.requests_per_hour
    assert len(admitted) > 100  # it does admit: not a limiter that refuses everything


@pytest.mark.slow
def test_memory_state_does_not_grow_with_the_limit() -> None:
    """A client allowed a million requests an hour: 20,000 admissions take no more memory than 1,000."""
    clock = FakeClock()
    limiter = MemoryLimiter(clock)

    def admit(n: int) -> None:
        for _ in range(n):
            clock.advance(0.01)
            assert limiter.check_now("client", BIG).allowed

    admit(10)  # the client's state exists
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        admit(1_000)
        after_1k = tracemalloc.get_traced_memory()[0]
        admit(19_000)
        after_20k = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    assert after_1k - before < 4096 and after_20k - after_1k < 4096, (before, after_1k, after_20k)


@pytest.mark.anyio
@pytest.mark.redis
@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_redis_script_decides_as_the_memory_limiter_on_a_replayed_trace(redis_url: str) -> None:
    limit = RateLimit(requests_per_minute=20, requests_per_hour=300, burst_limit=6)
    clock = FakeClock()
    memory = MemoryLimiter(clock)
    client = RespClient(redis_url, timeout=5.0, connect_timeout=5.0)
    keys = ["gw:rl:{replay}:t", "gw:rl:{replay}:bm", "gw:rl:{replay}:bh"]
    try:
        refused = 0
        for t in _arrivals(2, 1500):
            clock.now = t
            want = memory.check_now("k", limit)
            allowed, remaining, ms = await client.run_script(
                LUA, keys, [limit.requests_per_minute, limit.requests_per_hour, limit.burst_limit, repr(t * 1000)])
            seconds = float(ms) / 1000
            assert (bool(allowed), int(remaining)) == (want.allowed, want.remaining), t
            assert seconds == pytest.approx(want.retry_after if not want.allowed else want.reset, abs=0.002), t
            refused += not want.allowed
        assert 100 < refused < 1400  # the trace exercises both answers
    finally:
        await client.aclose()


@pytest.mark.anyio
@pytest.mark.redis
@pytest.mark.parametrize("anyio_backend", ["asyncio"])
@pytest.mark.slow
async def test_redis_keys_do_not_grow_with_the_limit(redis_url: str) -> None:
    """6,000 admissions, one every 0.6 s for an hour (every bucket of both windows in use), under a limit of
    a million an hour: each of the client's keys stays under 2 KB (the exact logs held 6,000 entries)."""
    client = RespClient(redis_url, timeout=5.0, connect_timeout=5.0)
    inspect = aioredis.Redis.from_url(redis_url)
    keys = ["gw:rl:{client}:t", "gw:rl:{client}:bm", "gw:rl:{client}:bh"]
    try:
        t = 1_700_000_000_000.0
        for _ in range(6_000):
            t += 600.0
            allowed, _, _ = await client.run_script(
                LUA, keys, [BIG.requests_per_minute, BIG.requests_per_hour, BIG.burst_limit, repr(t)])
            assert allowed == 1
        found = [key async for key in inspect.scan_iter("gw:rl:*")]
        assert len(found) == 3
        sizes = {key: await inspect.memory_usage(key) for key in found}
        assert all(size is not None and size < 2048 for size in sizes.values()), sizes
    finally:
        await client.aclose()
        await inspect.aclose()
