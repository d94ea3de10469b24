"""``inventory-system up --replicas 2`` for real: two inventory instances and two gateway workers on one
PostgreSQL (a fresh database) and one Redis; requests through the gateway reach both instances."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
import yaml

from sync.settings import Settings
from sync.supervisor import plan
from tests.ops.promql import PROMETHEUS_DIR, exported_names, metric_names
from tests.ops.test_service_metrics import value
from tests.servers import free_port

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.postgres, pytest.mark.redis]


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, module_postgres_url: str,
          module_redis_url: str) -> Iterator[dict[str, object]]:
    workdir = tmp_path_factory.mktemp("replicas")
    ports = {name: free_port() for name in ("GATEWAY_PORT", "INVENTORY_PORT", "ANALYTICS_PORT", "ML_PORT")}
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("REDIS", "RATE_LIMIT", "JWT", "DATABASE", "GATEWAY", "INVENTORY_URL"))}
    env.update({k: str(v) for k, v in ports.items()})
    env.update(DATABASE_URL=module_postgres_url, REDIS_URL=module_redis_url, HEALTH_CHECK_INTERVAL="2")
    proc = subprocess.Popen([sys.executable, "-m", "sync.cli", "up", "--replicas", "2"], cwd=workdir, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines: list[str] = []
    up = threading.Event()

    def read_output() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line)
            if "Press Ctrl-C to stop" in line:
                up.set()

    threading.Thread(target=read_output, daemon=True).start()
    if not up.wait(180):
        proc.kill()
        proc.wait(10)
        pytest.fail("stack did not come up within 180 s:\n" + "".join(lines)[-4000:])
    settings = Settings(**{k: v for k, v in ports.items()})  # type: ignore[arg-type]
    urls = {s.label: s.url for s in plan(settings, replicas=2)}
    try:
        yield {"proc": proc, "lines": lines, "urls": urls, "base": urls["gateway"]}
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)


def test_requests_through_the_gateway_reach_both_inventory_instances(stack: dict[str, object]) -> None:
    urls: dict[str, str] = stack["urls"]  # type: ignore[assignment]
    assert set(urls) == {"inventory-1", "inventory-2", "analytics", "ml", "gateway"}
    for _ in range(20):
        response = requests.get(f"{stack['base']}/inventory/locations", timeout=10)
        assert response.status_code == 200, response.text
    served = [value(requests.get(f"{urls[name]}/metrics", timeout=10).text, "http_requests_total",
                    route="/locations", status="200") for name in ("inventory-1", "inventory-2")]
    assert sum(served) == 20
    assert min(served) > 0, served
    listed = str(requests.get(f"{stack['base']}/services", timeout=10).json())
    assert urls["inventory-1"] in listed and urls["inventory-2"] in listed
    assert "2 workers" in "".join(stack["lines"])  # type: ignore[arg-type]


def test_every_alert_metric_is_in_the_running_stacks_output(stack: dict[str, object]) -> None:
    urls: dict[str, str] = stack["urls"]  # type: ignore[assignment]
    requests.post(f"{stack['base']}/ml/predict", timeout=10, json={
        "model_name": "demand_forecast", "features": {"historical_demand": 120, "seasonality": 0.5, "trend": 10,
                                                      "price": 50, "promotions": 1}})
    paths = {"gateway": "/metrics", "inventory-1": "/metrics", "inventory-2": "/metrics",
             "analytics": "/metrics/prometheus", "ml": "/metrics"}
    exported = {"up"}
    for name, path in paths.items():
        response = requests.get(urls[name] + path, timeout=10)
        assert response.status_code == 200, (name, response.text[:200])
        exported |= exported_names(response.text)
    rules = yaml.safe_load((PROMETHEUS_DIR / "alerts.yml").read_text())["groups"]
    used = {n for group in rules for rule in group["rules"] for n in metric_names(rule["expr"])}
    assert used - exported == set()


def test_stopping_the_supervisor_stops_every_instance(stack: dict[str, object]) -> None:
    proc: subprocess.Popen[str] = stack["proc"]  # type: ignore[assignment]
    urls: dict[str, str] = stack["urls"]  # type: ignore[assignment]
    proc.send_signal(signal.SIGINT)
    assert proc.wait(60) == 0
    for url in urls.values():
        with pytest.raises(requests.ConnectionError):
            requests.get(f"{url}/health", timeout=2)


def test_replicas_refuse_sqlite_and_a_missing_redis(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("REDIS", "DATABASE"))}
    result = subprocess.run([sys.executable, "-m", "sync.cli", "up", "--replicas", "2"], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert "REDIS_URL" in result.stderr and "PostgreSQL" in result.stderr


def test_replica_ports_that_collide_or_overflow_are_refused() -> None:
    from sync.supervisor import replica_problems

    base = {"REDIS_URL": "redis://127.0.0.1:6379/10", "DATABASE_URL": "postgresql://u@h/db"}
    assert replica_problems(Settings(**base), 2) == []  # type: ignore[arg-type]
    clash = replica_problems(Settings(**base, ML_PORT=8104), 2)  # type: ignore[arg-type]
    assert len(clash) == 1 and "share a port" in clash[0]
    overflow = replica_problems(Settings(**base, INVENTORY_PORT=65500), 2)  # type: ignore[arg-type]
    assert len(overflow) == 1 and "65600" in overflow[0]
    assert replica_problems(Settings(**{**base, "DATABASE_URL": "sqlite:///x.db"}), 1) == []  # type: ignore[arg-type]
