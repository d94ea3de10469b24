"""The gateway on each selectable protocol implementation (docs/gateway.md, "Protocol code: measured
against libraries"): whichever server, upstream client or limiter Redis client a setting picks, the
gateway behaves the same, so the benchmark compares implementations of one behaviour."""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from sync.api_gateway import APIGateway, RateLimit
from tests.gateway.conftest import direct, endpoint, make_settings
from tests.gateway.test_ratelimit import admitted, burst_of
from tests.serving import Spawned, answers, free_port

pytestmark = pytest.mark.anyio
ROOT = Path(__file__).resolve().parents[2]


def sent_headers(up: Any) -> dict[str, str]:
    """The headers of the upstream's last request, names lower-cased."""
    return {k.lower(): v for k, v in up.requests[-1]["headers"].items()}


@pytest.mark.parametrize("client", ["builtin", "aiohttp", "pyreqwest"])
async def test_every_upstream_client_proxies_streams_and_times_out(upstreams: Any, client: str) -> None:
    up = await upstreams("inv-1")
    slow = await upstreams("slow-1")
    slow.hang = True
    gateway = APIGateway(settings=make_settings(GATEWAY_UPSTREAM_CLIENT=client))
    gateway.add_service("inventory", endpoint(up))
    gateway.add_service("slow", endpoint(slow, timeout=0.5, retry_count=0))
    gone = await upstreams("gone-1")
    gateway.add_service("gone", endpoint(gone, retry_count=0))
    async with direct(gateway) as http:
        small = await http.get("/inventory/items?sku=1", headers={"x-custom": "kept"})
        assert small.status_code == 200
        assert up.requests[-1]["path"] == "/items?sku=1" and sent_headers(up)["x-custom"] == "kept"
        big = await http.get("/inventory/big/300000")  # over the buffered size: streamed through
        assert big.status_code == 200 and big.content == b"x" * 300_000
        posted = await http.post("/inventory/upload", content=b"y" * 400_000)  # over the replay limit: streamed
        assert posted.status_code == 200 and up.requests[-1]["body_len"] == 400_000
        timed_out = await http.get("/slow/x")
        assert timed_out.status_code == 504
        await gone.stop()  # healthy at start, then gone: the connection is refused
        refused = await http.get("/gone/x")
        assert refused.status_code == 502


@pytest.mark.redis
@pytest.mark.parametrize("client", ["builtin", "redis-py"])
async def test_every_limiter_redis_client_keeps_limits_exact(upstreams: Any, redis_url: str, client: str) -> None:
    up = await upstreams("inv-1")
    gateway = APIGateway(settings=make_settings(RATE_LIMIT_REDIS_URL=redis_url, RATE_LIMIT_REDIS_CLIENT=client,
                                                RATE_LIMIT_REDIS_TIMEOUT=5))  # exactness here, not timeouts
    gateway.add_service("inventory", endpoint(up))
    gateway.set_rate_limit("inventory/*", RateLimit(requests_per_minute=6, requests_per_hour=1000, burst_limit=5))
    async with direct(gateway) as http:
        assert admitted(await burst_of(http, "/inventory/x")) == 5
        assert (await http.get("/health")).json()["dependencies"]["redis"]["status"] == "ok"
    assert up.hits == 5


@pytest.mark.parametrize("client", ["builtin", "redis-py"])
async def test_every_limiter_redis_client_falls_back_when_redis_is_down(upstreams: Any, client: str) -> None:
    up = await upstreams("inv-1")
    dead = f"redis://127.0.0.1:{free_port()}/0"
    gateway = APIGateway(settings=make_settings(RATE_LIMIT_REDIS_URL=dead, RATE_LIMIT_REDIS_CLIENT=client))
    gateway.add_service("inventory", endpoint(up))
    gateway.set_rate_limit("inventory/*", RateLimit(requests_per_minute=6, requests_per_hour=1000, burst_limit=3))
    async with direct(gateway) as http:
        assert admitted(await burst_of(http, "/inventory/x")) == 3  # local limits while Redis is down
        assert (await http.get("/health")).json()["dependencies"]["redis"]["status"] == "down"


@pytest.mark.parametrize("server", ["granian", "uvicorn"])
async def test_every_server_launches_through_the_cli_and_keeps_the_socket_peer(upstreams: Any, server: str) -> None:
    """``inventory-system serve gateway`` on each ``GATEWAY_SERVER``: it serves, and a client's own
    X-Forwarded-For is not believed (no trusted proxies), so the upstream sees the socket peer."""
    up = await upstreams("inv-1")
    port = free_port()
    env = {**os.environ, "GATEWAY_SERVER": server, "GATEWAY_SERVICES": f"inventory={up.url}",
           "HEALTH_CHECK_INTERVAL": "3600", "PYTHONPATH": str(ROOT), "LOG_LEVEL": "WARNING",
           "GATEWAY_TRUSTED_PROXIES": ""}
    for key in ("JWT_SECRET", "REDIS_URL", "RATE_LIMIT_REDIS_URL", "JWT_PUBLIC_KEY", "JWT_JWKS_URL"):
        env.pop(key, None)
    url = f"http://127.0.0.1:{port}"
    gateway = Spawned([sys.executable, "-m", "sync.cli", "serve", "gateway", "--host", "127.0.0.1",
                       "--port", str(port)], ready=answers(f"{url}/health"), cwd=ROOT, env=env,
                      what=f"gateway on {server}")
    async with gateway, httpx.AsyncClient(base_url=url) as client:
        answer = await client.get("/inventory/who", headers={"x-forwarded-for": "203.0.113.9"})
        assert answer.status_code == 200
        assert sent_headers(up)["x-forwarded-for"] == "127.0.0.1"
    assert gateway.returncode in (0, -signal.SIGTERM)  # uvicorn re-raises the signal once it has shut down
