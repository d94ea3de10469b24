"""Rate limits in memory: exact under 50 concurrent clients, all three limits, headers, client identity."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from sync.api_gateway import APIGateway, RateLimit
from sync.gateway.auth import issue_token
from sync.gateway.ratelimit.rules import RuleTable
from tests.gateway.conftest import SECRET, FakeClock, direct, endpoint, make_settings

pytestmark = pytest.mark.anyio


async def burst_of(client: httpx.AsyncClient, path: str, n: int = 50, **kw) -> list[httpx.Response]:  # type: ignore[no-untyped-def]
    return list(await asyncio.gather(*(client.get(path, **kw) for _ in range(n))))


def admitted(responses: list[httpx.Response]) -> int:
    assert {r.status_code for r in responses} <= {200, 429}
    return sum(r.status_code == 200 for r in responses)


@pytest.mark.parametrize(("limit", "expected", "refill_after", "refilled"), [
    (RateLimit(requests_per_minute=6, requests_per_hour=1000, burst_limit=5), 5, 10.0, 1),  # burst
    (RateLimit(requests_per_minute=5, requests_per_hour=1000, burst_limit=50), 5, 60.0, 5),  # minute window
    (RateLimit(requests_per_minute=100, requests_per_hour=7, burst_limit=100), 7, 3600.0, 7),  # hour window
])
@pytest.mark.slow
async def test_exact_admission_with_50_concurrent_clients(upstreams, limit, expected, refill_after,  # type: ignore[no-untyped-def]
                                                         refilled, serving) -> None:
    up = await upstreams("inv-1")
    clock = FakeClock()
    gateway = APIGateway(settings=make_settings(), clock=clock)
    gateway.add_service("inventory", endpoint(up))
    gateway.set_rate_limit("inventory/*", limit)
    async with serving(gateway) as url, httpx.AsyncClient(base_url=url, limits=httpx.Limits(max_connections=50)) as c:
        assert admitted(await burst_of(c, "/inventory/x")) == expected
        clock.advance(refill_after - 0.01)
        assert admitted(await burst_of(c, "/inventory/x")) == 0
        clock.advance(0.02)
        assert admitted(await burst_of(c, "/inventory/x")) == refilled
    assert up.hits == expected + refilled


async def test_headers_on_admitted_and_refused_requests(upstreams) -> None:  # type: ignore[no-untyped-def]
    up = await upstreams("inv-1")
    gateway = APIGateway(settings=make_settings(), clock=FakeClock())
    gateway.add_service("inventory", endpoint(up))
    gateway.set_rate_limit("inventory/*", RateLimit(requests_per_minute=2, requests_per_hour=100, burst_limit=2))
    async with direct(gateway) as client:
        ok = await client.get("/inventory/x")
        await client.get("/inventory/x")
        refused = await client.get("/inventory/x")
        metrics = (await client.get("/metrics")).text
    assert ok.headers["ratelimit-policy"] == '"burst";q=2;w=60, "minute";q=2;w=60, "hour";q=100;w=3600'
    assert ok.headers["ratelimit"].startswith('"minute";r=1;t=')
    assert ok.headers["x-ratelimit-limit"] == "2" and ok.headers["x-ratelimit-remaining"] == "1"
    assert refused.status_code == 429 and refused.json()["error"]["code"] == "rate_limited"
    assert refused.headers["retry-after"] == "60" and refused.headers["x-ratelimit-remaining"] == "0"
    assert refused.headers["x-request-id"]
    assert 'gateway_rate_limited_total{rule="inventory/*"} 1.0' in metrics


async def test_default_limit_applies_without_a_rule(upstreams) -> None:  # type: ignore[no-untyped-def]
    up = await upstreams("an-1")
    gateway = APIGateway(settings=make_settings(RATE_LIMIT_DEFAULT_PER_MINUTE=3, RATE_LIMIT_DEFAULT_PER_HOUR=10),
                         clock=FakeClock())
    gateway.add_service("analytics", endpoint(up))
    async with direct(gateway) as client:
        assert admitted(await burst_of(client, "/analytics/kpis", 10)) == 3


def test_most_specific_pattern_wins() -> None:
    table = RuleTable(RateLimit(requests_per_minute=1, requests_per_hour=1, burst_limit=1))
    broad = RateLimit(requests_per_minute=100, requests_per_hour=1000, burst_limit=10)
    narrow = RateLimit(requests_per_minute=10, requests_per_hour=100, burst_limit=2)
    exact = RateLimit(requests_per_minute=5, requests_per_hour=50, burst_limit=1)
    table.set("inventory/*", broad)
    table.set("/inventory/movements*", narrow)
    table.set("inventory/movements/bulk", exact)
    assert table.match("inventory", "skus/1").pattern == "inventory/*"
    assert table.match("inventory", "movements").limit == narrow
    assert table.match("inventory", "movements/bulk").limit == exact
    assert table.match("ml", "predict").is_default


async def test_each_client_has_its_own_bucket_and_forwarded_for_cannot_fake_one(upstreams) -> None:  # type: ignore[no-untyped-def]
    up = await upstreams("inv-1")
    gateway = APIGateway(settings=make_settings(JWT_SECRET=SECRET), clock=FakeClock())
    gateway.add_service("inventory", endpoint(up))
    gateway.set_rate_limit("inventory/*", RateLimit(requests_per_minute=100, requests_per_hour=100, burst_limit=3))
    alice = {"Authorization": "Bearer " + issue_token(SECRET, "alice", [])}
    bob = {"Authorization": "Bearer " + issue_token(SECRET, "bob", [])}
    async with direct(gateway, client_host="198.51.100.1") as client:
        assert admitted(await burst_of(client, "/inventory/x", 10, headers=alice)) == 3
        assert admitted(await burst_of(client, "/inventory/x", 10, headers=bob)) == 3
    # Anonymous callers are told apart by address; a spoofed X-Forwarded-For from an untrusted peer is ignored.
    gateway = APIGateway(settings=make_settings(), clock=FakeClock())
    gateway.add_service("inventory", endpoint(up))
    gateway.set_rate_limit("inventory/*", RateLimit(requests_per_minute=100, requests_per_hour=100, burst_limit=3))
    async with direct(gateway, client_host="198.51.100.1") as client:
        codes = [(await client.get("/inventory/x", headers={"X-Forwarded-For": f"203.0.113.{i}"})).status_code
                 for i in range(6)]
    assert codes.count(200) == 3


async def test_trusted_proxy_forwarded_for_selects_the_bucket(upstreams) -> None:  # type: ignore[no-untyped-def]
    up = await upstreams("inv-1")
    gateway = APIGateway(settings=make_settings(GATEWAY_TRUSTED_PROXIES="127.0.0.1"), clock=FakeClock())
    gateway.add_service("inventory", endpoint(up))
    gateway.set_rate_limit("inventory/*", RateLimit(requests_per_minute=100, requests_per_hour=100, burst_limit=2))
    async with direct(gateway, client_host="127.0.0.1") as client:
        codes = [(await client.get("/inventory/x", headers={"X-Forwarded-For": f"203.0.113.{i % 3}"})).status_code
                 for i in range(9)]
    assert codes.count(200) == 6  # three real clients behind the proxy, two each
