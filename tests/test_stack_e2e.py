"""The whole stack as `make run` starts it: four real processes, real HTTP through the gateway."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from sync.cli import make_parser
from sync.settings import Settings
from sync.supervisor import child_environment, plan, port_in_use
from tests.serving import free_port
from tests.stack import Stack, running_stack

SEED = Path(__file__).parent / "seed_examples"
pytestmark = pytest.mark.e2e


def _parent_of(pid: int) -> int | None:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return None


def _processes_mentioning(text: str) -> list[int]:
    """PIDs whose command line contains ``text`` (read from /proc: no extra dependency)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if text in cmdline and int(entry.name) != os.getpid():
            found.append(int(entry.name))
    return found


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with running_stack(tmp_path_factory.mktemp("stack")) as started:
        yield started


def test_every_service_answers_health_through_the_gateway(stack: Stack) -> None:
    base = stack.base
    for service in ("inventory", "analytics", "ml"):
        resp = requests.get(f"{base}/{service}/health", timeout=5)
        assert resp.status_code == 200, (service, resp.text)
        assert resp.json()["status"] in ("ok", "degraded")
    gateway_health = requests.get(f"{base}/health", timeout=5)
    assert gateway_health.status_code == 200


def test_the_seeds_microservices_example_runs_unchanged(stack: Stack) -> None:
    """The seed's example, with only its base URL pointed at this test's gateway port."""
    source = (SEED / "microservices_integration.py").read_text()
    assert 'base_url = "http://localhost:8000"' in source
    source = source.replace("http://localhost:8000", stack.base)
    result = subprocess.run([sys.executable, "-c", source], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert re.search(r"Inventory health: \{.*'status'", result.stdout), result.stdout
    assert "Analytics metrics: {" in result.stdout and "'error'" not in result.stdout.split("Analytics")[1]
    assert re.search(r"ML prediction: \{.*'prediction': [-0-9.]+", result.stdout), result.stdout


def test_demo_data_is_loaded_on_first_start(stack: Stack) -> None:
    resp = requests.get(f"{stack.base}/inventory/skus", params={"limit": 5}, timeout=5)
    assert resp.status_code == 200
    assert len(resp.json()["items"]) > 0
    assert (stack.workdir / "var").is_dir()


def test_ctrl_c_stops_every_child_and_frees_every_port(stack: Stack) -> None:
    ports = stack.ports
    children = [pid for port in ports.values() for pid in _processes_mentioning(f"--port {port}")]
    direct = [pid for pid in children if _parent_of(pid) == stack.process.pid]  # granian's worker: the gateway's child
    assert len(direct) == 4, children
    stack.process.send(signal.SIGINT)
    assert stack.process.wait(30) == 0
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(_processes_mentioning(f"--port {p}") for p in ports.values()):
        time.sleep(0.2)
    assert not [p for port in ports.values() for p in _processes_mentioning(f"--port {port}")]
    assert not [port for port in ports.values() if port_in_use("127.0.0.1", port)]


def test_up_refuses_to_start_when_a_port_is_taken(tmp_path: Path) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        env = dict(os.environ, GATEWAY_PORT=str(port), INVENTORY_PORT=str(free_port()),
                   ANALYTICS_PORT=str(free_port()), ML_PORT=str(free_port()))
        result = subprocess.run([sys.executable, "-m", "sync.cli", "up"], cwd=tmp_path, env=env,
                                capture_output=True, text=True, timeout=30)
    assert result.returncode == 2
    assert f"gateway (127.0.0.1:{port})" in result.stderr


def test_children_are_tied_together_by_the_chosen_ports() -> None:
    settings = Settings(INVENTORY_PORT=9104, ANALYTICS_PORT=9105, ML_PORT=9106, GATEWAY_PORT=9100)
    env = child_environment(plan(settings), {})
    assert env["GATEWAY_SERVICES"] == (
        "inventory=http://127.0.0.1:9104,analytics=http://127.0.0.1:9105,ml=http://127.0.0.1:9106"
    )
    assert env["INVENTORY_URL"] == "http://127.0.0.1:9104"
    assert child_environment(plan(settings), {"INVENTORY_URL": "http://inv:1"})["INVENTORY_URL"] == "http://inv:1"


def test_cli_help_lists_the_commands(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        make_parser().parse_args(["--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    for command in ("up", "serve", "import", "token"):
        assert command in out
