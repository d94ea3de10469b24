"""The analytics service with no inventory behind it: request validation, OpenAPI, a dead upstream.

The service runs on a real port, pointed at a port where nothing listens: validation must answer
before any upstream call, and every data endpoint must fail fast with a 503.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from sync.analytics.app import create_app
from sync.settings import Settings
from tests.serving import free_port, running

ENDPOINTS = ("/metrics", "/kpis", "/classification", "/reorder-alerts", "/stock-value")


@pytest.fixture(scope="module")
def dead_inventory_url() -> str:
    return f"http://127.0.0.1:{free_port()}"  # bound then released: nothing listens there


@pytest.fixture(scope="module")
def client(dead_inventory_url: str) -> Iterator[httpx.Client]:
    with running(create_app(Settings(INVENTORY_URL=dead_inventory_url)), free_port()) as base, \
            httpx.Client(base_url=base, timeout=10) as http:
        yield http


@pytest.mark.parametrize(("path", "field"), [
    ("/metrics?window_days=0", "window_days"),
    ("/metrics?window_days=abc", "window_days"),
    ("/metrics?as_of=yesterday", "as_of"),
    ("/metrics?slow_days=-1", "slow_days"),
    ("/kpis?limit=0", "limit"),
    ("/kpis?sort=colour", "sort"),
    ("/kpis?movement_class=fast", "movement_class"),
    ("/classification?weeks=2", "weeks"),
    ("/classification?a_share=1.5", "a_share"),
    ("/classification?abc=D", "abc"),
    ("/reorder-alerts?cover_days=-3", "cover_days"),
])
@pytest.mark.slow
def test_bad_query_parameters_get_a_422_naming_the_field(client: httpx.Client, path: str, field: str) -> None:
    resp = client.get(path)
    assert resp.status_code == 422, resp.text
    error = resp.json()["error"]
    assert error["code"] == "validation_error"
    assert field in error["message"]
    assert any(field in detail["field"] for detail in error["details"])


@pytest.mark.parametrize(("query", "field"), [("a_share=0.9&b_share=0.8", "b_share"),
                                              ("x_max=1.0&y_max=0.5", "y_max")])
def test_thresholds_out_of_order_are_refused(client: httpx.Client, query: str, field: str) -> None:
    resp = client.get(f"/classification?{query}")
    assert resp.status_code == 422
    assert [detail["field"] for detail in resp.json()["error"]["details"]] == [field]
    assert field in resp.json()["error"]["message"]


def test_openapi_documents_every_endpoint_and_its_response(client: httpx.Client) -> None:
    spec = client.get("/openapi.json").json()
    for path in (*ENDPOINTS, "/health"):
        assert path in spec["paths"], path
    metrics = spec["paths"]["/metrics"]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
    assert metrics["$ref"].endswith("/Metrics")
    fields = spec["components"]["schemas"]["Metrics"]["properties"]
    for name in ("stock_value_at_cost", "inventory_turnover", "days_of_supply", "stockouts", "dead_stock"):
        assert name in fields


def test_a_dead_inventory_service_gives_503s_and_a_degraded_health(client: httpx.Client,
                                                                   dead_inventory_url: str) -> None:
    for path in ENDPOINTS:
        resp = client.get(path)
        assert resp.status_code == 503, (path, resp.text)
        error = resp.json()["error"]
        assert error["code"] == "service_unavailable"
        assert "inventory service" in error["message"] and "unreachable" in error["message"]
        assert dead_inventory_url not in resp.text and "127.0.0.1" not in resp.text  # no internal address
        assert error["details"]["dependency"] == "inventory"
    health = client.get("/health")
    assert health.status_code == 503
    body = health.json()
    assert body["status"] == "degraded" and body["service"] == "analytics"
    assert body["dependencies"]["inventory"]["status"] == "down"
    assert body["dependencies"]["inventory"]["url"] == dead_inventory_url
