"""Smooth weighted round-robin, active health checks and the circuit breaker, against real upstreams."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from sync.api_gateway import APIGateway
from sync.gateway.breaker import BreakerState, CircuitBreaker
from tests.gateway.conftest import FakeClock, direct, endpoint, make_settings

pytestmark = pytest.mark.anyio


@pytest.mark.slow
async def test_weights_hold_over_1000_requests(upstreams, serving) -> None:  # type: ignore[no-untyped-def]
    ups = [await upstreams(f"inv-{w}") for w in (1, 3, 6)]
    gateway = APIGateway(settings=make_settings(RATE_LIMIT_DEFAULT_PER_MINUTE=10_000,
                                                RATE_LIMIT_DEFAULT_PER_HOUR=100_000))
    for up, weight in zip(ups, (1, 3, 6), strict=True):
        gateway.add_service("inventory", endpoint(up, weight=weight))
    async with serving(gateway) as url, httpx.AsyncClient(base_url=url) as client:
        sem = asyncio.Semaphore(20)

        async def one(i: int) -> None:
            async with sem:
                assert (await client.get(f"/inventory/item/{i}")).status_code == 200

        await asyncio.gather(*(one(i) for i in range(1000)))
    shares = [up.hits / 1000 for up in ups]
    for share, weight in zip(shares, (1, 3, 6), strict=True):
        assert abs(share - weight / 10) <= 0.02, shares


def test_smooth_wrr_spreads_the_heavy_instance() -> None:
    """nginx's smooth WRR: weights 5,1,1 give a a b a c a a, not a a a a a b c."""
    from sync.gateway.balancer import Instance, Pool
    from sync.gateway.models import ServiceEndpoint

    pool = Pool("s")
    clock = FakeClock()
    for name, weight in (("a", 5), ("b", 1), ("c", 1)):
        pool.upsert(Instance("s", ServiceEndpoint(name=name, url="http://x", health_check_url="http://x/h",
                                                  weight=weight), clock))
    order = []
    for _ in range(7):
        inst = pool.pick()
        assert inst is not None
        inst.breaker.record_success()
        order.append(inst.name)
    assert order == ["a", "a", "b", "a", "c", "a", "a"]


def test_breaker_state_machine() -> None:
    clock = FakeClock()
    seen: list[BreakerState] = []
    breaker = CircuitBreaker("inv-1", threshold=3, timeout=10, clock=clock, listener=lambda n, s, u: seen.append(s))
    for _ in range(2):
        assert breaker.acquire()
        breaker.record_failure()
    assert breaker.state is BreakerState.CLOSED
    breaker.record_success()  # a success resets the consecutive count
    for _ in range(3):
        breaker.record_failure()
    assert breaker.state is BreakerState.OPEN and not breaker.acquire()
    clock.advance(9.9)
    assert not breaker.acquire()
    clock.advance(0.2)
    assert breaker.acquire()  # the one half-open probe
    assert breaker.state is BreakerState.HALF_OPEN and not breaker.acquire()
    breaker.record_failure()
    assert breaker.state is BreakerState.OPEN and breaker.retry_after() == pytest.approx(10)
    clock.advance(10)
    assert breaker.acquire()
    breaker.record_success()
    assert breaker.state is BreakerState.CLOSED and breaker.acquire()
    assert seen == [BreakerState.OPEN, BreakerState.HALF_OPEN, BreakerState.OPEN, BreakerState.HALF_OPEN,
                    BreakerState.CLOSED]


async def test_breaker_opens_on_a_failing_upstream_and_closes_when_it_recovers(upstreams, caplog) -> None:  # type: ignore[no-untyped-def]
    up = await upstreams("ml-1")
    clock = FakeClock()
    gateway = APIGateway(settings=make_settings(), clock=clock)
    gateway.add_service("ml", endpoint(up, circuit_breaker_threshold=3, circuit_breaker_timeout=30, retry_count=0))
    breaker = gateway.registry.get("ml").instances[0].breaker  # type: ignore[union-attr]
    async with direct(gateway) as client:
        up.fail_status = 503
        for _ in range(3):
            assert (await client.get("/ml/report")).status_code == 503
        assert breaker.state is BreakerState.OPEN and up.hits == 3
        fast = await client.get("/ml/report")  # no instance may take it: a fast 503, upstream untouched
        assert fast.status_code == 503 and up.hits == 3
        assert 1 <= int(fast.headers["retry-after"]) <= 30
        assert fast.json()["error"]["code"] == "service_unavailable"
        clock.advance(30)
        up.fail_status = None
        assert (await client.get("/ml/report")).status_code == 200  # the half-open probe succeeds
        assert breaker.state is BreakerState.CLOSED
        metrics = (await client.get("/metrics")).text
    assert 'gateway_circuit_breaker_transitions_total{instance="ml-1",state="open"} 1.0' in metrics
    assert 'gateway_circuit_breaker_transitions_total{instance="ml-1",state="closed"} 1.0' in metrics
    assert any("ml-1" in r.getMessage() and "open" in r.getMessage() for r in caplog.records)


async def test_killed_instance_gets_no_traffic_after_threshold(upstreams) -> None:  # type: ignore[no-untyped-def]
    alive, doomed = await upstreams("inv-a"), await upstreams("inv-b")
    gateway = APIGateway(settings=make_settings(), clock=FakeClock())
    gateway.add_service("inventory", endpoint(alive, circuit_breaker_threshold=3))
    gateway.add_service("inventory", endpoint(doomed, circuit_breaker_threshold=3))
    async with direct(gateway) as client:
        for _ in range(4):
            assert (await client.get("/inventory/x")).status_code == 200
        await doomed.stop()
        for i in range(40):  # every GET succeeds: failed attempts are retried on the other instance
            r = await client.get(f"/inventory/after/{i}")
            assert r.status_code == 200 and r.json()["instance"] == "inv-a"
        metrics = (await client.get("/metrics")).text
    failures = [line for line in metrics.splitlines()
                if line.startswith('gateway_upstream_failures_total{instance="inv-b"')]
    assert sum(float(line.rsplit(" ", 1)[1]) for line in failures) == 3  # then the breaker kept it out
    assert gateway.registry.find_instance("inv-b").breaker.state is BreakerState.OPEN  # type: ignore[union-attr]


async def test_failing_health_check_takes_instance_out_and_back(upstreams) -> None:  # type: ignore[no-untyped-def]
    a, b = await upstreams("an-1"), await upstreams("an-2")
    gateway = APIGateway(settings=make_settings())
    gateway.add_service("analytics", endpoint(a))
    gateway.add_service("analytics", endpoint(b))
    async with direct(gateway) as client:
        b.health_status = 503
        await gateway.health.check_all()
        for _ in range(10):
            assert (await client.get("/analytics/kpis")).json()["instance"] == "an-1"
        assert b.hits == 0
        a.health_status = 503
        await gateway.health.check_all()
        r = await client.get("/analytics/kpis")
        assert r.status_code == 503 and "retry-after" in r.headers
        assert (await client.get("/health")).json()["status"] == "degraded"
        b.health_status = 200
        await gateway.health.check_all()
        assert (await client.get("/analytics/kpis")).json()["instance"] == "an-2"
