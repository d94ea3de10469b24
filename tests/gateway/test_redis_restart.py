"""Redis restarts empty (a throwaway redis-server without persistence, killed and started again on its
port): the running gateways notice and publish their registry and rules again, so a gateway started
afterwards knows every instance and rule."""

from __future__ import annotations

import asyncio
import json

import pytest
import redis.asyncio as aioredis

from sync.api_gateway import APIGateway, RateLimit
from sync.gateway.shared import RULES, SERVICES
from tests.gateway.conftest import direct, endpoint, make_settings
from tests.servers import throwaway_redis

pytestmark = [pytest.mark.anyio, pytest.mark.redis, pytest.mark.slow]


async def _until(check, what: str) -> None:  # type: ignore[no-untyped-def]
    for _ in range(200):  # hang guard: 10 s
        if await check():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.mark.parametrize("third_starts", ["after_republish", "at_once"])
async def test_gateways_republish_after_redis_restarts_empty(upstreams, third_starts) -> None:  # type: ignore[no-untyped-def]
    """``at_once``: the new gateway publishes into the empty Redis first (so Redis is no longer empty);
    the others still see that it is not the state they published and publish theirs."""
    inv, ml = await upstreams("inv-1"), await upstreams("ml-1")
    inv_rule = RateLimit(requests_per_minute=11, requests_per_hour=111, burst_limit=3)
    ml_rule = RateLimit(requests_per_minute=22, requests_per_hour=222, burst_limit=4)
    with throwaway_redis() as server:
        first = APIGateway(redis_url=server.url, settings=make_settings())
        first.add_service("inventory", endpoint(inv))
        first.set_rate_limit("inventory/*", inv_rule)
        second = APIGateway(redis_url=server.url, settings=make_settings())
        second.add_service("ml", endpoint(ml))
        second.set_rate_limit("ml/*", ml_rule)
        redis = aioredis.Redis.from_url(server.url)
        try:
            async with first, second:
                async def both_know_both() -> bool:
                    return all(set(gw.registry.pools) == {"inventory", "ml"} for gw in (first, second))

                await _until(both_know_both, "the two gateways to share their registries")

                server.kill()
                server.start()  # same port, empty: no persistence
                await redis.aclose()  # its connection died with the old server

                async def republished() -> bool:
                    return (await redis.hlen(SERVICES), await redis.hlen(RULES)) == (2, 2)

                if third_starts == "after_republish":
                    await _until(republished, "the gateways to publish their state again")
                # the third gateway is started after the restart and configured with nothing
                third = APIGateway(redis_url=server.url, settings=make_settings())
                async with direct(third) as client:
                    if third_starts == "at_once":
                        async def third_knows_all() -> bool:
                            return set(third.registry.pools) == {"inventory", "ml"} and len(third.rules.rules) == 2

                        await _until(third_knows_all, "the new gateway to learn the republished state")
                    assert set(third.registry.pools) == {"inventory", "ml"}
                    assert third.rules.rules == {"inventory/*": inv_rule, "ml/*": ml_rule}
                    routed = await client.get("/ml/hello")
                    assert routed.status_code == 200 and routed.json()["instance"] == "ml-1"
                    assert routed.headers["x-ratelimit-limit"] == "22"
                stored = json.loads(await redis.hget(SERVICES, "inventory/inv-1"))  # type: ignore[arg-type]
                assert stored["url"] == inv.url
        finally:
            await redis.aclose()


async def test_gateway_started_while_redis_is_down_publishes_once_it_is_up(upstreams, caplog) -> None:  # type: ignore[no-untyped-def]
    inv = await upstreams("inv-1")
    with throwaway_redis() as server:
        server.kill()
        gateway = APIGateway(redis_url=server.url, settings=make_settings())
        gateway.add_service("inventory", endpoint(inv))
        gateway.set_rate_limit("inventory/*", RateLimit(requests_per_minute=11, requests_per_hour=111, burst_limit=3))
        async with gateway:
            server.start()
            redis = aioredis.Redis.from_url(server.url)
            try:
                async def published() -> bool:
                    return (await redis.hlen(SERVICES), await redis.hlen(RULES)) == (1, 1)

                await _until(published, "the gateway to publish its state once Redis is up")
            finally:
                await redis.aclose()
    shared = [r.getMessage() for r in caplog.records if r.name == "sync.gateway.shared"]
    assert len([m for m in shared if "unreachable" in m]) == 1, shared  # once per outage, not per retry
