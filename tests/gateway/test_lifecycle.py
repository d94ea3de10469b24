"""Start-up and shutdown: lifespan, lazy start, background tasks gone after shutdown, the factory."""

from __future__ import annotations

import asyncio
import sys

import httpx
import pytest

from sync.api_gateway import APIGateway
from sync.gateway.service import create_gateway, parse_services
from tests.gateway.conftest import endpoint, make_settings
from tests.serving import Spawned, answers, free_port

pytestmark = pytest.mark.anyio


def _others() -> set[asyncio.Task[object]]:
    return {t for t in asyncio.all_tasks() if t is not asyncio.current_task() and not t.done()}


@pytest.mark.redis
async def test_lifespan_starts_and_stops_everything(upstreams, redis_url, serving) -> None:  # type: ignore[no-untyped-def]
    up = await upstreams("inv-1")
    before = _others()
    gateway = APIGateway(redis_url=redis_url, settings=make_settings(HEALTH_CHECK_INTERVAL=0.05))
    gateway.add_service("inventory", endpoint(up))
    async with serving(gateway) as url, httpx.AsyncClient(base_url=url) as client:
        assert (await client.get("/inventory/x")).status_code == 200
        for _ in range(500):  # the background health task runs on its own
            if up.health_hits >= 2:
                break
            await asyncio.sleep(0.01)
        assert up.health_hits >= 2
    assert gateway.upstreams.idle_count() == 0 and gateway.shared is None and not gateway._tasks
    assert _others() <= before


async def test_lazy_start_without_lifespan_and_clean_close(upstreams) -> None:  # type: ignore[no-untyped-def]
    up = await upstreams("inv-1")
    gateway = APIGateway(settings=make_settings())
    gateway.add_service("inventory", endpoint(up))
    transport = httpx.ASGITransport(app=gateway.app)  # sends no lifespan events
    async with httpx.AsyncClient(transport=transport, base_url="http://gw") as client:
        assert (await client.get("/inventory/x")).status_code == 200
    assert gateway._started and len(gateway._tasks) == 1
    await gateway.aclose()
    assert not gateway._started and gateway.upstreams.idle_count() == 0


def test_create_gateway_registers_settings_services() -> None:
    settings = make_settings(GATEWAY_SERVICES="inventory=http://127.0.0.1:8004,inventory=http://127.0.0.1:9004/,"
                                              "ml=http://127.0.0.1:8006", CIRCUIT_BREAKER_THRESHOLD=7)
    gateway = create_gateway(settings)
    inv = gateway.registry.get("inventory")
    assert inv is not None and [i.name for i in inv.instances] == ["inventory-1", "inventory-2"]
    assert inv.instances[1].endpoint.health_check_url == "http://127.0.0.1:9004/health"
    assert inv.instances[0].endpoint.circuit_breaker_threshold == 7
    with pytest.raises(ValueError, match="name=url"):
        parse_services("inventory")


@pytest.mark.slow
def test_seed_usage_example_serves_with_uvicorn_run(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """The seed's example, verbatim but for the port, served by ``uvicorn.run(gateway.app, ...)``."""
    port = free_port()
    code = f'''
from sync.api_gateway import APIGateway, ServiceEndpoint, RateLimit
gateway = APIGateway()
gateway.add_service("inventory", ServiceEndpoint(name="inventory-1", url="http://localhost:8004",
    health_check_url="http://localhost:8004/health", weight=1, timeout=30))
gateway.set_rate_limit("inventory/*", RateLimit(requests_per_minute=200, requests_per_hour=2000, burst_limit=50))
import uvicorn
uvicorn.run(gateway.app, host="127.0.0.1", port={port})
'''
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    base = f"http://127.0.0.1:{port}"
    with Spawned([sys.executable, "-c", code], ready=answers(f"{base}/services"), cwd=tmp_path, env=env,
                 timeout=30, what="the seed's example") as example:
        body = httpx.get(f"{base}/services", timeout=10).json()
        assert body["services"]["inventory"]["instances"][0]["name"] == "inventory-1"
    out = example.output()
    assert "Traceback" not in out and "ASGI 'lifespan' protocol appears unsupported" not in out
