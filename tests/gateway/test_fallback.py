"""Circuit-breaker fallbacks: the last good GET/HEAD answer, marked stale, while no instance can serve;
never past its maximum age, never for a POST, never one user's answer to another; off by default."""

from __future__ import annotations

import httpx
import pytest

from sync.gateway.auth import issue_token
from sync.gateway.fallback import FallbackCache
from sync.gateway.gateway import APIGateway
from tests.gateway.conftest import ADMIN, SECRET, FakeClock, direct, endpoint, make_settings

pytestmark = pytest.mark.anyio


def settings(**kw):  # type: ignore[no-untyped-def]
    return make_settings(RATE_LIMIT_DEFAULT_PER_MINUTE=100_000, RATE_LIMIT_DEFAULT_PER_HOUR=1_000_000, **kw)


async def test_fallback_while_every_instance_is_down_not_past_max_age_never_post(upstreams, serving) -> None:  # type: ignore[no-untyped-def]
    a, b = await upstreams("inv-1"), await upstreams("inv-2")
    clock = FakeClock()
    gateway = APIGateway(settings=settings(), clock=clock)
    for up in (a, b):
        gateway.add_service("inventory", endpoint(up, circuit_breaker_threshold=2, retry_count=1))
    async with serving(gateway) as url, httpx.AsyncClient(base_url=url) as client:
        r = await client.put("/services/inventory/policy", headers=ADMIN, json={"fallback_max_age": 30})
        assert r.status_code == 200 and r.json()["policy"]["fallback_max_age"] == 30
        good = await client.get("/inventory/items?page=2")
        assert good.status_code == 200 and "x-gateway-fallback" not in good.headers
        assert (await client.post("/inventory/items?page=2", json={"x": 1})).status_code == 200
        await a.stop()
        await b.stop()
        clock.advance(12)
        for attempt in range(4):  # connection refused (502), then both breakers open (503): still answered
            stale = await client.get("/inventory/items?page=2")
            assert stale.status_code == 200, (attempt, stale.text)
            assert stale.json() == good.json()
            assert stale.headers["x-gateway-fallback"] == "stale; age=12"
            assert stale.headers["age"] == "12"
            assert stale.headers["x-request-id"] != good.headers["x-request-id"]
        assert all(i.breaker.state.value == "open" for i in gateway.registry.instances())
        head = await client.head("/inventory/items?page=2")
        assert head.status_code == 503  # HEAD is its own key: no HEAD answer was kept
        other = await client.get("/inventory/items?page=3")  # never answered: nothing to fall back on
        assert other.status_code == 503 and "x-gateway-fallback" not in other.headers
        post = await client.post("/inventory/items?page=2", json={"x": 1})
        assert post.status_code == 503 and "x-gateway-fallback" not in post.headers
        clock.advance(18.5)  # 30.5 s old: past the maximum age
        old = await client.get("/inventory/items?page=2")
        assert old.status_code == 503 and "x-gateway-fallback" not in old.headers
        assert set(old.json()["error"]) == {"code", "message", "details"}
    assert gateway.fallbacks.served == 4


async def test_fallback_replaces_a_5xx_answer_and_is_off_by_default(upstreams) -> None:  # type: ignore[no-untyped-def]
    on, off = await upstreams("on-1"), await upstreams("off-1")
    gateway = APIGateway(settings=settings())
    gateway.add_service("on", endpoint(on, retry_count=0, circuit_breaker_threshold=100))
    gateway.add_service("off", endpoint(off, retry_count=0, circuit_breaker_threshold=100))
    async with direct(gateway) as client:
        r = await client.put("/services/on/policy", headers=ADMIN, json={"fallback_max_age": 60})
        assert r.status_code == 200
        first = {s: await client.get(f"/{s}/report") for s in ("on", "off")}
        on.fail_status = off.fail_status = 503  # the instances answer, with 503
        stale = await client.get("/on/report")
        assert stale.status_code == 200 and stale.json() == first["on"].json()
        assert stale.headers["x-gateway-fallback"] == "stale; age=0"
        plain = await client.get("/off/report")
        assert plain.status_code == 503 and "x-gateway-fallback" not in plain.headers
        on.fail_status = None  # serving again: the live answer, not the kept one
        live = await client.get("/on/report")
        assert live.status_code == 200 and "x-gateway-fallback" not in live.headers
        assert (await client.put("/services/on/policy", headers=ADMIN, json={"fallback_max_age": 0})).status_code == 200
        on.fail_status = 503
        assert (await client.get("/on/report")).status_code == 503  # switched off per service


async def test_setting_turns_fallbacks_on_for_every_service(upstreams) -> None:  # type: ignore[no-untyped-def]
    up = await upstreams("ml-1")
    gateway = APIGateway(settings=settings(GATEWAY_FALLBACK_MAX_AGE=5))
    gateway.add_service("ml", endpoint(up, retry_count=0))
    async with direct(gateway) as client:
        assert (await client.get("/ml/models")).status_code == 200
        await up.stop()
        r = await client.get("/ml/models")
        assert r.status_code == 200 and r.headers["x-gateway-fallback"].startswith("stale; age=")
        policy = (await client.get("/services/ml/policy")).json()
        assert policy["fallback_default_max_age"] == 5


async def test_one_users_answer_never_serves_another(upstreams) -> None:  # type: ignore[no-untyped-def]
    up = await upstreams("inv-1")
    gateway = APIGateway(settings=settings(JWT_SECRET=SECRET, GATEWAY_FALLBACK_MAX_AGE=60))
    gateway.add_service("inventory", endpoint(up, retry_count=0))

    def auth(subject: str) -> dict[str, str]:
        return {"authorization": "Bearer " + issue_token(SECRET, subject, ["read"])}

    async with direct(gateway) as client:
        assert (await client.get("/inventory/me", headers=auth("alice"))).status_code == 200
        await up.stop()
        assert (await client.get("/inventory/me", headers=auth("bob"))).status_code == 502
        alice = await client.get("/inventory/me", headers=auth("alice"))
        assert alice.status_code == 200 and "x-gateway-fallback" in alice.headers


def test_cache_is_bounded_by_entries_and_bytes() -> None:
    clock = FakeClock()
    cache = FallbackCache(max_entries=3, max_bytes=4096, clock=clock)
    for i in range(5):
        cache.put(f"k{i}".encode(), 200, [(b"content-type", b"application/json")], b"x" * 100)
    assert list(cache.entries) == [b"k2", b"k3", b"k4"]
    cache.put(b"big", 200, [], b"x" * 5000)  # over the byte bound on its own: not kept
    assert b"big" not in cache.entries
    for i in range(3):
        cache.put(f"m{i}".encode(), 200, [], b"y" * 1500)
    assert cache.bytes <= 4096 and len(cache.entries) <= 3
    assert cache.bytes == sum(e.size for e in cache.entries.values())
    assert cache.get(b"m2", 10) is not None
    clock.advance(11)
    assert cache.get(b"m2", 10) is None
