"""Retries: only idempotent requests, only on connection failure or 502/503/504, on another instance."""

from __future__ import annotations

import pytest

from sync.api_gateway import APIGateway
from sync.gateway.retry import RetryBudget
from tests.gateway.conftest import FakeClock, direct, endpoint, make_settings

pytestmark = pytest.mark.anyio


async def _pair(upstreams, **kw):  # type: ignore[no-untyped-def]
    bad, good = await upstreams("inv-bad"), await upstreams("inv-good")
    bad.fail_status = 503
    gateway = APIGateway(settings=make_settings(), clock=FakeClock())
    gateway.add_service("inventory", endpoint(bad, circuit_breaker_threshold=100, **kw))
    gateway.add_service("inventory", endpoint(good, circuit_breaker_threshold=100, **kw))
    return gateway, bad, good


async def test_get_is_retried_on_the_other_instance(upstreams) -> None:  # type: ignore[no-untyped-def]
    gateway, bad, good = await _pair(upstreams)
    async with direct(gateway) as client:
        for i in range(6):
            r = await client.get(f"/inventory/x/{i}")
            assert r.status_code == 200 and r.json()["instance"] == "inv-good"
    assert bad.hits == 3 and good.hits == 6  # round-robin sent every other first attempt to the bad one


async def test_post_is_never_retried(upstreams) -> None:  # type: ignore[no-untyped-def]
    gateway, bad, good = await _pair(upstreams)
    statuses = []
    async with direct(gateway) as client:
        for i in range(6):
            statuses.append((await client.post(f"/inventory/movements/{i}", json={"q": 1})).status_code)
    assert bad.hits == 3 and good.hits == 3  # each POST reached exactly one instance, once
    assert sorted(statuses) == [200, 200, 200, 503, 503, 503]
    assert all(req["method"] == "POST" for req in bad.requests + good.requests)


async def test_post_is_not_retried_after_a_connection_failure(upstreams) -> None:  # type: ignore[no-untyped-def]
    gateway, bad, good = await _pair(upstreams)
    async with direct(gateway) as client:
        await bad.stop()  # after start-up's health check passed: it is taken for up, and fails
        statuses = [(await client.post("/inventory/movements", json={})).status_code for _ in range(4)]
    assert sorted(statuses) == [200, 200, 502, 502] and good.hits == 2


async def test_post_with_idempotency_key_is_retried(upstreams) -> None:  # type: ignore[no-untyped-def]
    gateway, _bad, good = await _pair(upstreams)
    async with direct(gateway) as client:
        for i in range(4):
            r = await client.post("/inventory/movements", json={}, headers={"Idempotency-Key": f"k{i}"})
            assert r.status_code == 200
    assert good.hits == 4


async def test_retry_count_zero_and_timeout(upstreams) -> None:  # type: ignore[no-untyped-def]
    slow = await upstreams("slow")
    slow.hang = True
    gateway = APIGateway(settings=make_settings(), clock=FakeClock())
    gateway.add_service("ml", endpoint(slow, timeout=0.3, retry_count=0))
    async with direct(gateway) as client:
        r = await client.get("/ml/report")
    assert r.status_code == 504 and r.json()["error"]["code"] == "gateway_timeout"
    assert slow.hits == 1


def test_retry_budget_caps_retries_to_a_share_of_requests() -> None:
    clock = FakeClock()
    budget = RetryBudget(ratio=0.2, floor_per_second=0.0, cap=100, clock=clock)
    budget._balance = 0.0
    granted = 0
    for _ in range(1000):
        budget.deposit()
        granted += budget.withdraw()
    assert granted == 200


async def test_retry_budget_stops_retry_storms(upstreams) -> None:  # type: ignore[no-untyped-def]
    a, b = await upstreams("a"), await upstreams("b")
    a.fail_status = b.fail_status = 503
    gateway = APIGateway(settings=make_settings(RATE_LIMIT_DEFAULT_PER_MINUTE=1000), clock=FakeClock())
    gateway.add_service("inventory", endpoint(a, circuit_breaker_threshold=10_000, retry_count=3))
    gateway.add_service("inventory", endpoint(b, circuit_breaker_threshold=10_000, retry_count=3))
    async with direct(gateway) as client:
        for _ in range(100):
            assert (await client.get("/inventory/x")).status_code == 503
    # Without a budget 100 requests x 4 attempts = 400; the budget allows 5 + 20% of 100 retries.
    assert a.hits + b.hits == 100 + 25
