"""A hung Redis (SIGSTOP on a throwaway redis-server): requests stop waiting on it once it is known bad,
are answered by the fallback (local limits, or 503 when failing closed), the log gets one line per state
change, and shared limits come back once Redis answers again (SIGCONT)."""

from __future__ import annotations

import asyncio
import logging

import httpx
import pytest
import redis as sync_redis

from sync.api_gateway import APIGateway, RateLimit
from sync.gateway.ratelimit.redis_limiter import RedisLimiter
from tests.gateway.conftest import direct, endpoint, make_settings
from tests.servers import throwaway_redis

pytestmark = [pytest.mark.anyio, pytest.mark.redis, pytest.mark.slow]

WORKERS = 10  # concurrent clients, each sending one request after another
ROUNDS = 40  # requests per client while Redis hangs
TIMEOUT = 0.2  # RATE_LIMIT_REDIS_TIMEOUT


async def _clients(client: httpx.AsyncClient) -> list[int]:
    async def one_client() -> list[int]:
        codes = []
        for _ in range(ROUNDS):
            codes.append((await client.get("/inventory/x")).status_code)
            await asyncio.sleep(0.03)  # 40 rounds: over a second of hang, longer than the old 1 s back-off
        return codes

    return [code for codes in await asyncio.gather(*(one_client() for _ in range(WORKERS))) for code in codes]


async def _until_up(limiter: RedisLimiter) -> None:
    for _ in range(200):  # hang guard: 10 s
        if not limiter.down:
            return
        await asyncio.sleep(0.05)
    raise AssertionError("the limiter never saw Redis answer again")


@pytest.mark.parametrize(("fail_closed", "hang"), [(False, "sigstop"), (True, "sigstop"), (False, "pause_writes")])
async def test_hung_redis_falls_back_without_queueing_and_logs_once(upstreams, caplog, fail_closed, hang) -> None:  # type: ignore[no-untyped-def]
    """``pause_writes``: CLIENT PAUSE WRITE, a Redis that still answers PING but runs no script (as one
    too loaded to answer in time may): it must stay marked down, not flap up and down."""
    up = await upstreams("inv-1")
    caplog.set_level(logging.DEBUG, logger="sync.gateway.ratelimit")
    with throwaway_redis() as redis:
        gateway = APIGateway(settings=make_settings(RATE_LIMIT_REDIS_URL=redis.url, RATE_LIMIT_REDIS_TIMEOUT=TIMEOUT,
                                                    RATE_LIMIT_FAIL_CLOSED=fail_closed))
        gateway.add_service("inventory", endpoint(up))
        gateway.set_rate_limit("inventory/*", RateLimit(requests_per_minute=100_000, requests_per_hour=1_000_000,
                                                        burst_limit=10_000))
        async with direct(gateway) as client:
            assert [(await client.get("/inventory/x")).status_code for _ in range(3)] == [200] * 3
            limiter = gateway.limiter
            assert isinstance(limiter, RedisLimiter) and not limiter.down and limiter.failed_calls == 0

            admin = sync_redis.Redis.from_url(redis.url)
            if hang == "sigstop":
                redis.pause()
            else:
                admin.execute_command("CLIENT", "PAUSE", 10_000, "WRITE")
            try:
                codes = await _clients(client)
                # Only the requests already waiting on Redis when it hung went to it (each waited at most the
                # timeout); every later one was answered by the fallback without touching Redis.
                assert limiter.failed_calls <= WORKERS
                assert limiter.shortcuts >= WORKERS * ROUNDS - WORKERS
                assert limiter.down
                expected = 503 if fail_closed else 200
                assert codes == [expected] * (WORKERS * ROUNDS)
                metrics = (await client.get("/metrics")).text
                assert f"gateway_rate_limit_backend_errors_total {WORKERS * ROUNDS}.0" in metrics
                health = await client.get("/health")  # also when Redis still answers PING (paused writes)
                assert health.json()["dependencies"]["redis"]["status"] == "down"
                assert health.status_code == (503 if fail_closed else 200)
            finally:
                if hang == "sigstop":
                    redis.resume()
                else:
                    admin.execute_command("CLIENT", "UNPAUSE")
                admin.close()

            await _until_up(limiter)
            failed = limiter.failed_calls
            assert [(await client.get("/inventory/x")).status_code for _ in range(5)] == [200] * 5
            assert limiter.failed_calls == failed and not limiter.down
            assert (await client.get("/health")).json()["dependencies"]["redis"]["status"] == "ok"
    lines = [r for r in caplog.records if r.name == "sync.gateway.ratelimit" and r.levelno >= logging.INFO]
    assert len(lines) == 2, [r.getMessage() for r in lines]  # down once, up once: not one line per request
    assert "Redis unreachable" in lines[0].getMessage() and "answers again" in lines[1].getMessage()
