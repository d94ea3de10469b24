"""The shipped alert rules: valid for promtool, unit-tested by promtool (each alert fires and clears), and
fed only by metrics the services really export (names checked against each service's real /metrics)."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from fastapi.testclient import TestClient

from sync.gateway.gateway import APIGateway
from sync.gateway.models import ServiceEndpoint
from sync.settings import Settings
from tests.ops.promql import PROMETHEUS_DIR, exported_names, metric_names, promtool

RULES = PROMETHEUS_DIR / "alerts.yml"
RULE_TESTS = PROMETHEUS_DIR / "alerts.test.yml"
#: What the issue asks an alert for, and the alert that answers it.
REQUIRED = {"service down": "ServiceDown", "error rate": "GatewayHighErrorRate", "latency": "GatewayHighLatency",
            "rate-limit rejections": "RateLimitRejections", "breaker opened": "CircuitBreakerOpened",
            "model accuracy": "ModelAccuracyBelowThreshold", "drift": "FeatureDrift",
            "stale training data": "StaleTrainingData"}


def _alerts() -> list[dict[str, object]]:
    groups = yaml.safe_load(RULES.read_text())["groups"]
    return [rule for group in groups for rule in group["rules"] if "alert" in rule]


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([promtool(), *args], capture_output=True, text=True, timeout=120,
                          cwd=PROMETHEUS_DIR, check=False)


def test_promtool_checks_the_rules() -> None:
    result = _run("check", "rules", RULES.name)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(_alerts())} rules found" in result.stdout


def test_promtool_unit_tests_fire_and_clear() -> None:
    result = _run("test", "rules", RULE_TESTS.name)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_promtool_unit_tests_catch_a_broken_rule(tmp_path: Path) -> None:
    """The unit tests have teeth: an error-rate threshold of 50% instead of 5% makes them fail."""
    broken = RULES.read_text().replace("> 0.05", "> 0.5")
    assert broken != RULES.read_text()
    (tmp_path / RULES.name).write_text(broken)
    (tmp_path / RULE_TESTS.name).write_text(RULE_TESTS.read_text())
    result = subprocess.run([promtool(), "test", "rules", RULE_TESTS.name], capture_output=True, text=True,
                            timeout=120, cwd=tmp_path, check=False)
    assert result.returncode != 0
    assert "GatewayHighErrorRate" in result.stdout + result.stderr


def test_prometheus_config_is_valid() -> None:
    result = _run("check", "config", "prometheus.yml")
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_alert_the_issue_names_exists_and_each_alert_fires_and_clears_in_a_test() -> None:
    names = {str(rule["alert"]) for rule in _alerts()}
    assert set(REQUIRED.values()) <= names
    fired: set[str] = set()
    cleared: set[str] = set()
    for case in yaml.safe_load(RULE_TESTS.read_text())["tests"]:
        for check in case.get("alert_rule_test", []):
            (fired if check.get("exp_alerts") else cleared).add(check["alertname"])
    assert names - fired == set(), "alerts no test shows firing"
    assert names - cleared == set(), "alerts no test shows clearing"


def test_metric_names_are_parsed_from_expressions() -> None:
    expr = ('sum by (service) (rate(gateway_requests_total{status=~"5.."}[5m])) / ignoring(x) '
            "histogram_quantile(0.99, rate(ml_prediction_duration_seconds_bucket[5m])) > 30 * 86400 and up == 0")
    assert metric_names(expr) == {"gateway_requests_total", "ml_prediction_duration_seconds_bucket", "up"}


# --- the names against the real /metrics of each service ----------------------------------------------

@pytest.fixture(scope="module")
def exposed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """The /metrics text of the inventory, analytics, ML and gateway apps after some real traffic."""
    from sync.analytics.app import create_app as analytics_app
    from sync.inventory.app import create_app as inventory_app
    from sync.ml.service import create_app as ml_app
    from tests.ml.data import lead_time_frame

    root = tmp_path_factory.mktemp("metrics")
    settings = Settings(DATABASE_URL=f"sqlite:///{root / 'inventory.db'}", DEMO_DATA=False,
                        ML_MODEL_PATH=root / "models", ML_TRAINING_DATA_PATH=root / "data")
    out: dict[str, str] = {}
    with TestClient(inventory_app(settings)) as client:
        client.get("/health")
        out["inventory"] = client.get("/metrics").text
    with TestClient(analytics_app(settings)) as client:
        out["analytics"] = client.get("/metrics/prometheus").text
    with TestClient(ml_app(settings)) as client:
        frame = lead_time_frame(200, seed=5)
        assert client.post("/train", json={"model_name": "lead_time_prediction",
                                           "data": frame.to_dict("records")}).status_code == 200
        rows = frame.drop(columns="lead_time").to_dict("records")
        assert client.post("/predict/batch", json={"model_name": "lead_time_prediction", "rows": rows}).is_success
        assert client.post("/predict", json={"model_name": "lead_time_prediction", "features": rows[0]}).is_success
        out["ml"] = client.get("/metrics").text
    gateway = APIGateway(settings=Settings(REDIS_URL=None, RATE_LIMIT_REDIS_URL=None, JWT_SECRET=None,
                                           HEALTH_CHECK_INTERVAL=3600))
    gateway.add_service("inventory", ServiceEndpoint(name="inventory-1", url="http://127.0.0.1:9",
                                                     health_check_url="http://127.0.0.1:9/health"))
    with TestClient(gateway.app) as client:
        client.get("/inventory/levels")
        out["gateway"] = client.get("/metrics").text
    yield out


@pytest.mark.slow
def test_every_metric_an_alert_reads_is_exported(exposed: dict[str, str]) -> None:
    exported = {"up"}  # Prometheus' own, per scrape target
    for text in exposed.values():
        exported |= exported_names(text)
    used = {name for rule in _alerts() for name in metric_names(str(rule["expr"]))}
    assert used - exported == set()
    assert {"gateway_requests_total", "http_requests_total", "ml_model_accuracy", "ml_feature_drift_psi",
            "ml_training_data_age_seconds", "gateway_circuit_breaker_transitions_total"} <= used


@pytest.mark.slow
def test_alert_label_values_exist_in_the_real_output(exposed: dict[str, str]) -> None:
    """The label values the ML alerts select are really produced: both accuracy sources and the drift PSI."""
    ml = exposed["ml"]
    assert 'ml_model_accuracy{model="lead_time_prediction",source="actuals"}' in ml
    assert 'ml_model_accuracy{model="lead_time_prediction",source="holdout"}' in ml
    assert 'ml_feature_drift_psi{feature="order_quantity",model="lead_time_prediction"}' in ml
    assert 'kind="single"' in ml
    assert 'gateway_instance_healthy{exported_instance' not in exposed["gateway"]  # scraped: renamed then
    assert 'gateway_instance_healthy{instance="inventory-1",service="inventory"}' in exposed["gateway"]
