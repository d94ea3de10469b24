"""``inventory-system up --replicas 2`` for real: two inventory instances and two gateway workers on one
PostgreSQL (a fresh database) and one Redis; requests through the gateway reach both instances."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
import yaml

from sync.settings import Settings
from sync.supervisor import plan
from tests.ops.promql import PROMETHEUS_DIR, exported_names, metric_names
from tests.ops.test_service_metrics import value
from tests.stack import Stack, running_stack

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.postgres, pytest.mark.redis]


@dataclass
class Replicas:
    stack: Stack
    urls: dict[str, str]  # each instance's own URL, by label ("inventory-1", "gateway"...)

    @property
    def base(self) -> str:
        return self.urls["gateway"]


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, module_postgres_url: str,
          module_redis_url: str) -> Iterator[Replicas]:
    env = {"DATABASE_URL": module_postgres_url, "REDIS_URL": module_redis_url, "HEALTH_CHECK_INTERVAL": "2"}
    with running_stack(tmp_path_factory.mktemp("replicas"), env, args=["--replicas", "2"], timeout=180) as started:
        settings = Settings(**{k: v for k, v in started.ports.items()})  # type: ignore[arg-type]
        yield Replicas(stack=started, urls={s.label: s.url for s in plan(settings, replicas=2)})


def test_requests_through_the_gateway_reach_both_inventory_instances(stack: Replicas) -> None:
    urls = stack.urls
    assert set(urls) == {"inventory-1", "inventory-2", "analytics", "ml", "gateway"}
    for _ in range(20):
        response = requests.get(f"{stack.base}/inventory/locations", timeout=10)
        assert response.status_code == 200, response.text
    served = [value(requests.get(f"{urls[name]}/metrics", timeout=10).text, "http_requests_total",
                    route="/locations", status="200") for name in ("inventory-1", "inventory-2")]
    assert sum(served) == 20
    assert min(served) > 0, served
    listed = str(requests.get(f"{stack.base}/services", timeout=10).json())
    assert urls["inventory-1"] in listed and urls["inventory-2"] in listed
    assert "2 workers" in stack.stack.process.output()


def test_every_alert_metric_is_in_the_running_stacks_output(stack: Replicas) -> None:
    urls = stack.urls
    requests.post(f"{stack.base}/ml/predict", timeout=10, json={
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


def test_stopping_the_supervisor_stops_every_instance(stack: Replicas) -> None:
    urls = stack.urls
    stack.stack.process.send(signal.SIGINT)
    assert stack.stack.process.wait(60) == 0
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
