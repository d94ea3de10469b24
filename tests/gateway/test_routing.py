"""The seed's API and routes: registration, proxying with the prefix stripped, admin routes, ASGI 3."""

from __future__ import annotations

import logging

import httpx
import pytest
import uvicorn

from sync import __version__
from sync.api_gateway import APIGateway, RateLimit, ServiceEndpoint
from tests.gateway.conftest import ADMIN, direct, endpoint, make_settings

pytestmark = pytest.mark.anyio


@pytest.mark.slow
def test_app_is_detected_as_asgi3_by_uvicorn() -> None:
    gateway = APIGateway(settings=make_settings())
    config = uvicorn.Config(gateway.app)
    config.load()
    assert config.interface == "asgi3"


def test_seed_configuration_example_builds_without_redis_running() -> None:
    gateway = APIGateway(redis_url="redis://127.0.0.1:1", settings=make_settings())
    gateway.add_service("custom", ServiceEndpoint(
        name="custom-service", url="http://localhost:8007", health_check_url="http://localhost:8007/health",
        weight=2, timeout=60, retry_count=5, circuit_breaker_threshold=3, circuit_breaker_timeout=120))
    gateway.set_rate_limit("custom/*", RateLimit(requests_per_minute=500, requests_per_hour=5000, burst_limit=100))
    assert gateway.registry.get("custom").instances[0].endpoint.weight == 2  # type: ignore[union-attr]
    assert gateway.rules.match("custom", "x").limit.burst_limit == 100


async def test_the_gateway_reports_the_package_version() -> None:
    async with direct(APIGateway(settings=make_settings())) as client:
        assert (await client.get("/")).json()["version"] == __version__
        assert (await client.get("/health")).json()["version"] == __version__
        assert (await client.get("/openapi.json")).json()["info"]["version"] == __version__


def test_reserved_and_bad_service_names_are_refused() -> None:
    gateway = APIGateway(settings=make_settings())
    for name in ("health", "services", "rate-limits", "metrics", "", "a/b", "../x"):
        with pytest.raises(ValueError):
            gateway.add_service(name, ServiceEndpoint(name="x", url="http://localhost:1",
                                                      health_check_url="http://localhost:1/health"))


async def test_proxy_strips_prefix_keeps_query_and_serves_admin_routes(upstreams, serving) -> None:  # type: ignore[no-untyped-def]
    inv = await upstreams("inventory-1")
    gateway = APIGateway(settings=make_settings())
    gateway.add_service("inventory", endpoint(inv))
    gateway.set_rate_limit("inventory/*", RateLimit(requests_per_minute=200, requests_per_hour=2000, burst_limit=50))
    async with serving(gateway) as url, httpx.AsyncClient(base_url=url) as client:
        r = await client.get("/inventory/skus/A1?limit=5&x=%20y")
        assert r.status_code == 200
        assert r.json() == {"instance": "inventory-1", "method": "GET", "path": "/skus/A1?limit=5&x=%20y",
                            "body_len": 0}
        assert (await client.get("/inventory")).json()["path"] == "/"
        status = (await client.get("/")).json()
        assert status["services"] == ["inventory"]
        health = (await client.get("/health")).json()
        assert health["status"] == "ok" and health["dependencies"]["inventory"]["healthy_instances"] == 1
        services = (await client.get("/services")).json()["services"]
        assert services["inventory"]["instances"][0]["url"] == inv.url
        limits = (await client.get("/rate-limits")).json()
        assert limits["rules"]["inventory/*"] == {"requests_per_minute": 200, "requests_per_hour": 2000,
                                                  "burst_limit": 50}
        missing = await client.get("/nowhere/x")
        assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"
        assert (await client.get("/openapi.json")).status_code == 200


async def test_services_and_limits_registered_over_http(upstreams) -> None:  # type: ignore[no-untyped-def]
    ml = await upstreams("ml-1")
    gateway = APIGateway(settings=make_settings(GATEWAY_TIMEOUT=7, CIRCUIT_BREAKER_THRESHOLD=4))
    async with direct(gateway) as client:
        body = {"name": "ml-1", "url": ml.url, "health_check_url": ml.url + "/health", "weight": 2}
        r = await client.post("/services/ml", headers=ADMIN, json=body)
        assert r.status_code == 201, r.text
        assert r.json()["instance"]["timeout"] == 7 and r.json()["instance"]["circuit_breaker_threshold"] == 4
        r = await client.post("/ml/predict", json={"features": {}})
        assert r.status_code == 200 and r.json()["path"] == "/predict" and r.json()["method"] == "POST"
        r = await client.post("/rate-limits/ml/*", headers=ADMIN,
                              json={"requests_per_minute": 10, "requests_per_hour": 100, "burst_limit": 5})
        assert r.status_code == 200 and r.json()["endpoint"] == "ml/*"
        assert (await client.get("/rate-limits")).json()["rules"]["ml/*"]["burst_limit"] == 5
        r = await client.post("/services/health", headers=ADMIN, json=body)
        assert r.status_code == 422 and "reserved" in r.json()["error"]["message"]
        r = await client.post("/services/ml", headers=ADMIN, json={**body, "url": "ftp://nope", "weight": 0})
        assert r.status_code == 422
        fields = {d["field"] for d in r.json()["error"]["details"]}
        assert {"url", "weight"} <= fields
        r = await client.post("/rate-limits/ml/*", headers=ADMIN, json={"requests_per_minute": 0})
        assert r.status_code == 422


async def test_debug_mode_logs_each_routing_decision(upstreams, caplog) -> None:  # type: ignore[no-untyped-def]
    inv = await upstreams("inventory-1")
    gateway = APIGateway(settings=make_settings())
    gateway.add_service("inventory", endpoint(inv))
    gateway.debug_mode = True
    with caplog.at_level(logging.INFO, logger="sync.gateway"):
        async with direct(gateway) as client:
            await client.get("/inventory/levels")
    assert any("inventory-1" in rec.getMessage() and "/inventory/levels" in rec.getMessage()
               for rec in caplog.records)
