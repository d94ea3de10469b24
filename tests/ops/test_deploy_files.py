"""The deployment files: the compose file against the compose-spec JSON schema, the Kubernetes manifests
against the Kubernetes API schemas (both validators installed from PyPI, offline), and both checked for
what each process needs: settings that exist, GATEWAY_SERVICES naming real services and ports, /health
probes, Prometheus scraping every service."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import kubernetes_validate
import pytest
import yaml

from sync.settings import Settings
from tests.ops.promql import PROMETHEUS_DIR, ROOT

DEPLOY = ROOT / "deploy"
COMPOSE = DEPLOY / "compose.yaml"
MANIFESTS = sorted((DEPLOY / "kubernetes").glob("*.yaml"))
KUBERNETES_VERSIONS = ("1.30.0", "1.37.0")
SETTINGS = set(Settings.model_fields)
THIRD_PARTY = {"postgres", "redis", "prometheus"}  # images with their own environment
SECRETS = ("JWT_SECRET", "ADMIN_TOKEN", "ML_MODEL_SIGNING_KEY", "DATABASE_URL")


def _compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE.read_text())


def _documents() -> list[dict[str, Any]]:
    return [doc for path in MANIFESTS for doc in yaml.safe_load_all(path.read_text()) if doc]


def _check_compose(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "check_jsonschema", "--builtin-schema", "vendor.compose-spec",
                           str(path)], capture_output=True, text=True, timeout=120, check=False)


def _port_arg(args: list[str]) -> int:
    return int(args[args.index("--port") + 1])


# --- compose --------------------------------------------------------------------------------------

@pytest.mark.slow
def test_compose_file_matches_the_compose_spec() -> None:
    result = _check_compose(COMPOSE)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.slow
def test_the_compose_check_rejects_a_broken_file(tmp_path: Path) -> None:
    broken = _compose()
    broken["services"]["gateway"]["depends_on"]["redis"]["condition"] = "service_ready"  # no such condition
    path = tmp_path / "compose.yaml"
    path.write_text(yaml.safe_dump(broken))
    assert _check_compose(path).returncode != 0


def test_compose_runs_two_inventory_instances_behind_the_gateway() -> None:
    services = _compose()["services"]
    gateway = services["gateway"]
    assert "--workers" in gateway["command"] and gateway["environment"]["REDIS_URL"].startswith("redis://redis:")
    listed = [item.split("=", 1) for item in gateway["environment"]["GATEWAY_SERVICES"].split(",")]
    assert [name for name, _ in listed].count("inventory") == 2
    for name, url in listed:
        parts = urlsplit(url)
        assert parts.hostname in services, url
        target = services[parts.hostname]
        assert target["command"][2] == name and _port_arg(target["command"]) == parts.port
        assert f"127.0.0.1:{parts.port}/health" in " ".join(target["healthcheck"]["test"])
    for name in ("inventory-1", "inventory-2"):
        assert services[name]["environment"]["DATABASE_URL"].startswith("postgresql://")
    # the second instance waits for the first (which migrates the database)
    assert services["inventory-2"]["depends_on"]["inventory-1"]["condition"] == "service_healthy"


def test_compose_environment_names_real_settings_and_takes_secrets_from_the_environment() -> None:
    for name, service in _compose()["services"].items():
        if name in THIRD_PARTY:
            continue
        environment = service.get("environment", {})
        assert set(environment) <= SETTINGS, (name, set(environment) - SETTINGS)
        for key in SECRETS:
            if key in environment:
                assert "${" in str(environment[key]), f"{name}: {key} must come from the environment"


def test_prometheus_scrapes_every_compose_service() -> None:
    config = yaml.safe_load((PROMETHEUS_DIR / "prometheus.yml").read_text())
    services = _compose()["services"]
    scraped = {}
    for job in config["scrape_configs"]:
        for target in job["static_configs"][0]["targets"]:
            host, port = target.split(":")
            scraped[host] = (job["job_name"], int(port), job.get("metrics_path", "/metrics"))
    apps = {n for n in services if n not in THIRD_PARTY}
    assert set(scraped) == apps
    for host, (_, port, path) in scraped.items():
        assert _port_arg(services[host]["command"]) == port
        assert path == ("/metrics/prometheus" if host == "analytics" else "/metrics")
    mounted = services["prometheus"]["volumes"][0].split(":")[0]
    assert (COMPOSE.parent / mounted).resolve() == PROMETHEUS_DIR


# --- kubernetes -----------------------------------------------------------------------------------

@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
@pytest.mark.slow
def test_manifests_validate_against_the_kubernetes_schemas(version: str) -> None:
    documents = _documents()
    assert {d["kind"] for d in documents} >= {"Deployment", "StatefulSet", "Service", "ConfigMap"}
    for doc in documents:
        kubernetes_validate.validate(doc, version, strict=True)


def test_the_kubernetes_check_rejects_a_broken_manifest() -> None:
    doc = next(d for d in _documents() if d["kind"] == "Deployment")
    doc["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]["httpGet"]["port"] = [8000]
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(doc, KUBERNETES_VERSIONS[-1], strict=True)


def _workloads() -> dict[str, dict[str, Any]]:
    return {d["metadata"]["name"]: d for d in _documents() if d["kind"] in ("Deployment", "StatefulSet")}


def test_every_service_has_health_probes_a_service_and_scrape_annotations() -> None:
    docs = _documents()
    services = {d["metadata"]["name"]: d for d in docs if d["kind"] == "Service"}
    for name in ("inventory", "analytics", "ml", "gateway"):
        workload = _workloads()[name]
        pod = workload["spec"]["template"]
        container = pod["spec"]["containers"][0]
        port = _port_arg(container["args"])
        assert container["ports"] == [{"name": "http", "containerPort": port}]
        for probe in ("startupProbe", "readinessProbe"):
            assert container[probe]["httpGet"] == {"path": "/health", "port": "http"}, (name, probe)
        assert container["livenessProbe"]["tcpSocket"] == {"port": "http"}
        assert services[name]["spec"]["ports"][0]["port"] == port
        assert services[name]["spec"]["selector"] == workload["spec"]["selector"]["matchLabels"]
        annotations = pod["metadata"]["annotations"]
        assert annotations["prometheus.io/port"] == str(port)
        assert annotations["prometheus.io/path"] == ("/metrics/prometheus" if name == "analytics" else "/metrics")


def test_each_process_gets_the_settings_it_needs_from_config_and_secret() -> None:
    config = next(d for d in _documents() if d["kind"] == "ConfigMap")["data"]
    assert set(config) <= SETTINGS, set(config) - SETTINGS
    assert config["SERVICE_HOST"] == config["GATEWAY_HOST"] == "0.0.0.0"
    assert "REDIS_URL" in config
    needs = {"inventory": {"DATABASE_URL"}, "gateway": {"JWT_SECRET", "REDIS_URL"}, "ml": {"ML_MODEL_SIGNING_KEY"},
             "analytics": {"INVENTORY_URL"}}
    for name, required in needs.items():
        container = _workloads()[name]["spec"]["template"]["spec"]["containers"][0]
        assert container["envFrom"] == [{"configMapRef": {"name": "inventory-system"}}]
        from_secret = {e["name"] for e in container.get("env", [])}
        assert all(e["valueFrom"]["secretKeyRef"]["name"] == "inventory-system" for e in container.get("env", []))
        assert from_secret <= SETTINGS
        assert required <= from_secret | set(config), (name, required - from_secret - set(config))


def test_gateway_lists_each_inventory_pod_by_its_stable_name() -> None:
    config = next(d for d in _documents() if d["kind"] == "ConfigMap")["data"]
    inventory = _workloads()["inventory"]
    assert inventory["kind"] == "StatefulSet" and inventory["spec"]["podManagementPolicy"] == "OrderedReady"
    headless = inventory["spec"]["serviceName"]
    services = {d["metadata"]["name"]: d for d in _documents() if d["kind"] == "Service"}
    assert services[headless]["spec"]["clusterIP"] == "None"
    hosts = [urlsplit(item.split("=", 1)[1]).hostname for item in config["GATEWAY_SERVICES"].split(",")
             if item.startswith("inventory=")]
    assert hosts == [f"inventory-{i}.{headless}" for i in range(inventory["spec"]["replicas"])]
    others = {item.split("=", 1)[0]: urlsplit(item.split("=", 1)[1])
              for item in config["GATEWAY_SERVICES"].split(",") if not item.startswith("inventory=")}
    for name, url in others.items():
        assert url.hostname == name and services[name]["spec"]["ports"][0]["port"] == url.port
    assert re.fullmatch(r"http://inventory:8004", config["INVENTORY_URL"])
