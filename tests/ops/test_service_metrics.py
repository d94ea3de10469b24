"""Every service's Prometheus /metrics: request counts and latency by route template and status."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from sync.settings import Settings


def samples(text: str, name: str) -> list[tuple[dict[str, str], float]]:
    return [(dict(s.labels), s.value) for f in text_string_to_metric_families(text) for s in f.samples
            if s.name == name]


def value(text: str, name: str, **labels: str) -> float:
    found = [v for lab, v in samples(text, name) if all(lab.get(k) == x for k, x in labels.items())]
    return sum(found)


@pytest.fixture
def inventory(tmp_path: Path) -> Iterator[TestClient]:
    from sync.inventory.app import create_app

    settings = Settings(DATABASE_URL=f"sqlite:///{tmp_path / 'inventory.db'}", DEMO_DATA=False,
                        MAX_REQUEST_BYTES=1024)
    with TestClient(create_app(settings)) as client:
        yield client


def test_requests_are_counted_by_route_template_and_status(inventory: TestClient) -> None:
    for _ in range(3):
        assert inventory.get("/health").status_code == 200
    assert inventory.get("/skus/NOPE-1").status_code == 404
    assert inventory.get("/skus/NOPE-2").status_code == 404
    response = inventory.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    text = response.text
    assert value(text, "http_requests_total", service="inventory", route="/health", status="200") == 3
    assert value(text, "http_requests_total", route="/skus/{code}", status="404") == 2
    assert value(text, "http_request_duration_seconds_count", route="/skus/{code}") == 2
    assert not [lab for lab, _ in samples(text, "http_requests_total") if "NOPE" in lab["route"]]
    assert value(text, "process_cpu_seconds_total") > 0


def test_unmatched_paths_share_one_label(inventory: TestClient) -> None:
    for i in range(20):
        assert inventory.get(f"/scan/{i}/x").status_code == 404
    text = inventory.get("/metrics").text
    routes = {lab["route"] for lab, _ in samples(text, "http_requests_total")}
    assert routes == {"unmatched"}
    assert value(text, "http_requests_total", route="unmatched", status="404") == 20


def test_a_refused_body_is_counted(inventory: TestClient) -> None:
    """The metrics sit outside the body limit: its 413 is counted like any answer."""
    response = inventory.post("/skus", content=b"{" + b" " * 4096 + b"}",
                              headers={"content-type": "application/json"})
    assert response.status_code == 413
    assert value(inventory.get("/metrics").text, "http_requests_total", method="POST", status="413") == 1


def test_analytics_keeps_its_kpi_metrics_and_serves_prometheus_beside_them(tmp_path: Path) -> None:
    from sync.analytics.app import create_app

    with TestClient(create_app(Settings(INVENTORY_URL="http://127.0.0.1:9"))) as client:
        kpis = client.get("/metrics")  # the seed's KPI summary: JSON (an error here, no inventory to read)
        assert kpis.headers["content-type"].startswith("application/json")
        text = client.get("/metrics/prometheus").text
    assert value(text, "http_requests_total", service="analytics", route="/metrics") == 1


def test_service_label_of_each_app() -> None:
    from sync.web.metrics import service_name

    assert [service_name(t) for t in ("Inventory service", "Analytics service", "ML service",
                                      "Inventory API Gateway")] == ["inventory", "analytics", "ml", "gateway"]
