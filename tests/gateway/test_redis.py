"""Redis mode: exact shared limits (also across two gateway processes), shared registry and breakers,
and what happens when Redis is down."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest

from sync.api_gateway import APIGateway, RateLimit
from sync.gateway.breaker import BreakerState
from tests.gateway.conftest import ADMIN, ADMIN_TOKEN, direct, endpoint, make_settings
from tests.gateway.test_ratelimit import admitted, burst_of
from tests.serving import Spawned, answers, free_port

pytestmark = [pytest.mark.anyio, pytest.mark.redis]
ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
async def test_exact_limit_on_redis_with_50_concurrent_clients(upstreams, redis_url, serving) -> None:  # type: ignore[no-untyped-def]
    up = await upstreams("inv-1")
    gateway = APIGateway(redis_url=redis_url, settings=make_settings())
    gateway.add_service("inventory", endpoint(up))
    gateway.set_rate_limit("inventory/*", RateLimit(requests_per_minute=6, requests_per_hour=1000, burst_limit=5))
    gateway.set_rate_limit("inventory/hourly", RateLimit(requests_per_minute=100, requests_per_hour=7,
                                                         burst_limit=100))
    async with serving(gateway) as url, httpx.AsyncClient(base_url=url) as client:
        first = await burst_of(client, "/inventory/x")
        assert admitted(first) == 5
        refused = next(r for r in first if r.status_code == 429)
        assert 1 <= int(refused.headers["retry-after"]) <= 10
        assert admitted(await burst_of(client, "/inventory/hourly")) == 7
    assert up.hits == 12


@asynccontextmanager
async def gateway_process(redis_url: str, services: str, *, workers: int = 1,
                          started: list[Spawned] | None = None) -> AsyncIterator[str]:
    """The production command (granian) on a free port; yields its URL once its /health answers 200."""
    port = free_port()
    env = {**os.environ, "REDIS_URL": redis_url, "GATEWAY_SERVICES": services, "HEALTH_CHECK_INTERVAL": "3600",
           "PYTHONPATH": str(ROOT), "LOG_LEVEL": "WARNING", "ADMIN_TOKEN": ADMIN_TOKEN}
    for key in ("JWT_SECRET", "RATE_LIMIT_REDIS_URL", "JWT_PUBLIC_KEY", "JWT_JWKS_URL"):
        env.pop(key, None)
    url = f"http://127.0.0.1:{port}"
    process = Spawned([sys.executable, "-m", "sync.cli", "serve", "gateway", "--host", "127.0.0.1", "--port", str(port),
                       "--workers", str(workers)], ready=answers(f"{url}/health"), cwd=ROOT, env=env, stop_timeout=10,
                      what="gateway process")
    if started is not None:
        started.append(process)
    async with process:
        yield url


@pytest.mark.slow
async def test_two_gateway_processes_share_registry_and_exact_limits(upstreams, redis_url) -> None:  # type: ignore[no-untyped-def]
    inv, extra = await upstreams("inv-1"), await upstreams("extra-1")
    services = f"inventory={inv.url}"
    async with gateway_process(redis_url, services) as a, gateway_process(redis_url, services) as b, \
            httpx.AsyncClient(limits=httpx.Limits(max_connections=60)) as client:
        r = await client.post(f"{a}/rate-limits/inventory/*", headers=ADMIN, json={"requests_per_minute": 1000,
                                                                      "requests_per_hour": 20, "burst_limit": 1000})
        assert r.status_code == 200
        seen = (await client.get(f"{b}/rate-limits")).json()["rules"]
        assert seen["inventory/*"]["requests_per_hour"] == 20
        responses = await asyncio.gather(*(client.get(f"{(a, b)[i % 2]}/inventory/x") for i in range(50)))
        assert admitted(list(responses)) == 20
        assert {r.json()["instance"] for r in responses if r.status_code == 200} == {"inv-1"}
        body = {"name": "extra-1", "url": extra.url, "health_check_url": extra.url + "/health"}
        assert (await client.post(f"{a}/services/extra", headers=ADMIN, json=body)).status_code == 201
        routed = await client.get(f"{b}/extra/hello")
        assert routed.status_code == 200 and routed.json()["instance"] == "extra-1"
        assert "extra" in (await client.get(f"{b}/services")).json()["services"]
    assert inv.hits == 20


async def test_breaker_opening_is_shared(upstreams, redis_url) -> None:  # type: ignore[no-untyped-def]
    up = await upstreams("ml-1")
    up.fail_status = 503
    first = APIGateway(redis_url=redis_url, settings=make_settings())
    second = APIGateway(redis_url=redis_url, settings=make_settings())
    for gw in (first, second):
        gw.add_service("ml", endpoint(up, circuit_breaker_threshold=2, retry_count=0))
    async with direct(first) as client, second:
        for _ in range(2):
            await client.get("/ml/x")
        assert first.registry.find_instance("ml-1").breaker.state is BreakerState.OPEN  # type: ignore[union-attr]
        other = second.registry.find_instance("ml-1")
        assert other is not None
        for _ in range(500):
            if other.breaker.state is BreakerState.OPEN:
                break
            await asyncio.sleep(0.01)
        assert other.breaker.state is BreakerState.OPEN
        assert 50 < other.breaker.retry_after() <= 60


async def test_redis_down_keeps_serving_with_local_limits(upstreams) -> None:  # type: ignore[no-untyped-def]
    up = await upstreams("inv-1")
    dead = f"redis://127.0.0.1:{free_port()}/0"
    gateway = APIGateway(settings=make_settings(RATE_LIMIT_REDIS_URL=dead))
    gateway.add_service("inventory", endpoint(up))
    gateway.set_rate_limit("inventory/*", RateLimit(requests_per_minute=6, requests_per_hour=100, burst_limit=4))
    async with direct(gateway) as client:
        codes = [(await client.get("/inventory/x")).status_code for _ in range(8)]
        metrics = (await client.get("/metrics")).text
        health = (await client.get("/health")).json()
    assert codes.count(200) == 4 and codes.count(429) == 4
    assert "gateway_rate_limit_backend_errors_total 8.0" in metrics
    assert health["dependencies"]["redis"]["status"] == "down" and health["status"] == "degraded"


async def test_redis_down_fail_closed_refuses(upstreams) -> None:  # type: ignore[no-untyped-def]
    up = await upstreams("inv-1")
    dead = f"redis://127.0.0.1:{free_port()}/0"
    gateway = APIGateway(settings=make_settings(RATE_LIMIT_REDIS_URL=dead, RATE_LIMIT_FAIL_CLOSED=True))
    gateway.add_service("inventory", endpoint(up))
    async with direct(gateway) as client:
        r = await client.get("/inventory/x")
    assert r.status_code == 503 and r.json()["error"]["code"] == "service_unavailable" and up.hits == 0


def _children(pid: int) -> set[int]:
    found = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == pid:
                found.add(int(stat.parent.name))
        except (OSError, ValueError, IndexError):
            continue
    return found


@pytest.mark.slow
async def test_workers_share_one_port_registry_and_exact_limits(upstreams, redis_url) -> None:  # type: ignore[no-untyped-def]
    """``serve gateway --workers 2``: two processes on one port; the kernel spreads new connections over
    them, and a limit set through one holds exactly across both."""
    inv = await upstreams("inv-1")
    started: list[Spawned] = []

    async def fresh(method: str, url: str, **kw: object) -> httpx.Response:  # a new connection each time
        async with httpx.AsyncClient() as client:
            return await client.request(method, url, **kw)  # type: ignore[arg-type]

    async with gateway_process(redis_url, f"inventory={inv.url}", workers=2, started=started) as url:
        parent = started[0].pid
        workers = _children(parent)
        assert len(workers) == 2
        r = await fresh("POST", f"{url}/rate-limits/inventory/*", headers=ADMIN, json={
            "requests_per_minute": 1000, "requests_per_hour": 15, "burst_limit": 1000})
        assert r.status_code == 200
        for _ in range(200):  # the other worker learns the rule from Redis
            seen = [(await fresh("GET", f"{url}/rate-limits")).json()["rules"] for _ in range(8)]
            if all("inventory/*" in rules for rules in seen):
                break
            await asyncio.sleep(0.05)
        responses = await asyncio.gather(*(fresh("GET", f"{url}/inventory/x") for _ in range(40)))
        assert admitted(list(responses)) == 15
        counts: set[float] = set()  # each worker has its own counters: both must have served some of the 40

        def split_over_two() -> bool:  # a + b == 40 with both > 0 (a == b == 20 shows as one value)
            return bool(counts) and all(0 < c < 40 for c in counts) and any(40 - c in counts for c in counts)

        for _ in range(30):
            text = (await fresh("GET", f"{url}/metrics")).text
            counts.add(sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
                           if line.startswith("gateway_requests_total{") and 'service="inventory"' in line))
            if split_over_two():
                break
        assert split_over_two(), counts
    assert started[0].returncode == 0 and not (_children(parent) & workers)
    assert inv.hits == 15


@pytest.mark.slow
def test_workers_without_redis_are_refused() -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "RATE_LIMIT_REDIS_URL")}
    proc = subprocess.run([sys.executable, "-m", "sync.cli", "serve", "gateway", "--port", str(free_port()),
                           "--workers", "2"], cwd=ROOT, env={**env, "PYTHONPATH": str(ROOT)},
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "REDIS_URL" in proc.stderr
