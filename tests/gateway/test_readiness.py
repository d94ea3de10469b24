"""Readiness at start-up (issue 13 item 7): a service that starts after the gateway must not open its
breaker; it is "starting" until a health check passes, and serves as soon as one does.

The service is a real uvicorn process (``tests.gateway.raising_app``) started after the gateway, whose
``/health`` answers 503 for its first seconds, as the ML service does while it loads. Health checks run at
the production interval (30 s): readiness must not wait for it. Assertions are on states, not on time.
"""

from __future__ import annotations

import asyncio

import httpx
import pytest

from sync.gateway.breaker import BreakerState
from sync.gateway.gateway import APIGateway
from sync.gateway.models import ServiceEndpoint
from tests.gateway.conftest import ADMIN, make_settings, serve_with_granian
from tests.gateway.test_connection_reuse import process
from tests.serving import free_port

pytestmark = [pytest.mark.anyio, pytest.mark.slow]


def ml_endpoint(port: int) -> ServiceEndpoint:
    url = f"http://127.0.0.1:{port}"
    return ServiceEndpoint(name="ml-1", url=url, health_check_url=url + "/health", weight=1, timeout=30,
                           retry_count=3, circuit_breaker_threshold=5, circuit_breaker_timeout=60)


async def _until_health_passes(url: str) -> None:
    """Poll the service's own /health (not through the gateway) until it answers 200 (bounded)."""
    async with httpx.AsyncClient(timeout=2) as direct:
        for _ in range(300):
            try:
                if (await direct.get(url + "/health")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.05)
    raise AssertionError("the service never became healthy")


async def test_a_service_that_starts_after_the_gateway_serves_as_soon_as_it_is_healthy() -> None:
    port = free_port()
    gateway = APIGateway(settings=make_settings(HEALTH_CHECK_INTERVAL=30, CIRCUIT_BREAKER_THRESHOLD=5,
                                                CIRCUIT_BREAKER_TIMEOUT=60))
    gateway.add_service("ml", ml_endpoint(port))
    inst = gateway.registry.find_instance("ml-1")
    assert inst is not None
    async with gateway, serve_with_granian(gateway) as base, httpx.AsyncClient(base_url=base, timeout=10) as client:
        assert inst.health_state == "starting" and not inst.healthy  # the first check, at start, failed
        for _ in range(8):  # more than the breaker's threshold: none of it may open the breaker
            r = await client.post("/ml/writes", json={})
            assert r.status_code == 503 and r.json()["error"]["code"] == "service_unavailable"
            assert "starting" in r.json()["error"]["message"] and r.headers["retry-after"] == "1"
        services = (await client.get("/services")).json()["services"]["ml"]["instances"][0]
        assert services["health"] == "starting" and services["circuit_breaker"] == "closed"
        with process(["-m", "tests.gateway.raising_app", str(port), "1.5"], port) as url:
            r = await client.post("/ml/writes", json={})  # listening, but /health still says 503
            assert r.status_code == 503 and inst.health_state == "starting"
            await _until_health_passes(url)
            r = await client.post("/ml/writes", json={"first": True})  # the very next request is served
            assert r.status_code == 200 and r.json() == {"applied": 1}
            assert inst.health_state == "healthy" and inst.healthy
        assert inst.breaker.state is BreakerState.CLOSED
        metrics = (await client.get("/metrics")).text
    assert 'gateway_circuit_breaker_transitions_total{instance="ml-1",state="open"}' not in metrics


async def test_a_starting_instance_is_checked_often_without_any_traffic() -> None:
    """No request comes; the health task alone finds the instance ready, long before the 30 s interval."""
    port = free_port()
    gateway = APIGateway(settings=make_settings(HEALTH_CHECK_INTERVAL=30))
    gateway.add_service("ml", ml_endpoint(port))
    inst = gateway.registry.find_instance("ml-1")
    assert inst is not None
    async with gateway:
        assert inst.health_state == "starting"
        with process(["-m", "tests.gateway.raising_app", str(port)], port):
            for _ in range(200):  # bounded: at most 10 s, against a 30 s interval
                if inst.health_state == "healthy":
                    break
                await asyncio.sleep(0.05)
            assert inst.health_state == "healthy" and inst.healthy


async def test_failures_before_the_first_passing_check_do_not_open_the_breaker() -> None:
    """An instance registered while the gateway runs gets traffic before its first check (optimistic);
    when that traffic fails, the instance is taken out as not ready, not by a 60 s breaker."""
    port = free_port()
    gateway = APIGateway(settings=make_settings(HEALTH_CHECK_INTERVAL=30, CIRCUIT_BREAKER_THRESHOLD=2))
    async with gateway, serve_with_granian(gateway) as base, httpx.AsyncClient(base_url=base, timeout=10) as client:
        r = await client.post("/services/ml", headers=ADMIN, json=ml_endpoint(port).to_dict())
        assert r.status_code == 201
        inst = gateway.registry.find_instance("ml-1")
        assert inst is not None and inst.health_state == "starting" and inst.healthy  # not checked yet
        statuses = {(await client.get("/ml/report")).status_code for _ in range(6)}
        assert statuses <= {502, 503} and not inst.healthy
        assert inst.breaker.state is BreakerState.CLOSED
        with process(["-m", "tests.gateway.raising_app", str(port)], port) as url:
            await _until_health_passes(url)
            assert (await client.get("/ml/writes")).json() == {"count": 0}
        assert inst.health_state == "healthy" and inst.breaker.state is BreakerState.CLOSED
