"""Registering the started services with a gateway named by SERVICE_REGISTRY_URL, over real HTTP."""

from __future__ import annotations

import os
import sys
import urllib.error
from pathlib import Path

import pytest
import requests

from sync.supervisor import ServiceProcess, register_with
from sync.web.admin_token import load_or_create
from tests.serving import Spawned, answers, free_port

pytestmark = pytest.mark.slow


def test_services_register_themselves_with_a_running_gateway(tmp_path: Path) -> None:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("JWT", "REDIS", "RATE_LIMIT", "ADMIN_TOKEN"))}
    env["GATEWAY_SERVICES"] = ""
    base = f"http://127.0.0.1:{port}"
    with Spawned([sys.executable, "-m", "sync.cli", "serve", "gateway", "--port", str(port)], cwd=tmp_path, env=env,
                 ready=answers(f"{base}/services"), what="gateway"):
        before = requests.get(f"{base}/services", timeout=10).json()
        assert "inventory-9104" not in str(before)
        services = [ServiceProcess("inventory", "127.0.0.1", 9104), ServiceProcess("ml", "127.0.0.1", 9106)]
        with pytest.raises(urllib.error.HTTPError) as refused:  # the admin routes take the admin token only
            register_with(base, services)
        assert refused.value.code == 401
        # `serve gateway` took the per-install token of its directory, the one `up` hands the heartbeat
        register_with(base, services, load_or_create(tmp_path / "var" / "admin-token"))
        after = str(requests.get(f"{base}/services", timeout=5).json())
        assert "inventory-9104" in after and "http://127.0.0.1:9104/health" in after
        assert "ml-9106" in after
