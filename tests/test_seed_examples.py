"""Every Python example of the seed document runs unchanged against the package.

The examples are kept verbatim in ``tests/seed_examples/``. Fragments that continue an earlier example
(they use names it defined) get only the imports or objects that earlier example made; nothing in the
example itself is changed, except the port of the one that starts a server (a free port instead of 8000).
The two ML examples are run (and their results checked more closely) in ``tests/ml/test_seed_example.py``,
the microservices example against the running stack in ``tests/test_stack_e2e.py``.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from tests.serving import Spawned, answers, free_port

pytestmark = pytest.mark.slow

SEED = Path(__file__).parent / "seed_examples"


def run_example(code: str, cwd: Path, timeout: float = 240) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ML_", "JWT", "RATE_LIMIT", "REDIS"))}
    result = subprocess.run([sys.executable, "-c", code], cwd=cwd, env=env, capture_output=True, text=True,
                            timeout=timeout)
    assert result.returncode == 0, result.stderr[-4000:]
    return result.stdout


def example(name: str) -> str:
    return (SEED / name).read_text()


def test_api_gateway_configuration_and_debug_examples(tmp_path: Path) -> None:
    code = ("from sync.api_gateway import APIGateway, ServiceEndpoint, RateLimit\n"
            + example("api_gateway_configuration.py")
            + "\nfrom sync.ml_integration import MLInventoryIntelligence\nml_system = MLInventoryIntelligence()\n"
            + example("debug_mode.py")
            + "\nassert ml_system.debug_mode and gateway.debug_mode\nprint('ok')")
    assert run_example(code, tmp_path).strip().endswith("ok")


def test_api_gateway_usage_example_serves(tmp_path: Path) -> None:
    port = free_port()
    code = example("api_gateway_usage.py")
    assert 'uvicorn.run(gateway.app, host="0.0.0.0", port=8000)' in code
    code = code.replace("port=8000", f"port={port}")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("JWT", "RATE_LIMIT", "REDIS"))}
    base = f"http://127.0.0.1:{port}"
    with Spawned([sys.executable, "-c", code], ready=answers(base + "/", status=None), cwd=tmp_path, env=env,
                 what="the gateway example"):
        root = requests.get(base + "/", timeout=10)
        assert root.status_code == 200
        services = requests.get(base + "/services", timeout=5).json()
        text = str(services)
        assert "inventory-1" in text and "analytics-1" in text and "http://localhost:8004" in text
        limits = str(requests.get(base + "/rate-limits", timeout=5).json())
        assert "inventory/*" in limits and "200" in limits and "analytics/*" in limits
