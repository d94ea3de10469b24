"""Debug mode switched at run time: by setting (GATEWAY_DEBUG, ML_DEBUG) and by an admin call (PUT /debug)
on the gateway that `inventory-system serve gateway` runs and on the ML service; it changes the logging."""

from __future__ import annotations

import asyncio
import logging
import os
import sys
from pathlib import Path

import httpx
import pytest
import requests

from sync.gateway.gateway import APIGateway
from sync.gateway.service import create_gateway
from sync.ml.service import create_app as create_ml_app
from sync.settings import Settings
from tests.gateway.conftest import ADMIN, ADMIN_TOKEN, direct, endpoint, make_settings
from tests.ml.servers import serving as serving_ml
from tests.serving import Spawned, answers, free_port

ROOT = Path(__file__).resolve().parents[2]


def seed_body(demand: int) -> dict[str, object]:  # a new row each time: cached predictions are not logged
    return {"model_name": "demand_forecast",
            "features": {"historical_demand": demand, "seasonality": 0.5, "trend": 10, "price": 50, "promotions": 1}}


def _routes(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.getMessage().startswith("route GET /inv/")]


@pytest.mark.anyio
async def test_gateway_put_debug_switches_routing_logs(upstreams, caplog) -> None:  # type: ignore[no-untyped-def]
    caplog.set_level(logging.INFO, logger="sync.gateway")
    up = await upstreams("inv-1")
    gateway = APIGateway(settings=make_settings())
    gateway.add_service("inv", endpoint(up))
    transport = httpx.ASGITransport(app=gateway.app, client=("203.0.113.9", 40000))
    async with direct(gateway) as client, httpx.AsyncClient(transport=transport, base_url="http://gw") as remote:
        await client.get("/inv/a")
        assert _routes(caplog) == []
        assert (await remote.put("/debug", json={"enabled": True})).status_code == 401  # no admin token
        for bad in ({"enabled": "yes"}, {}, {"enabled": True, "x": 1}):
            r = await client.put("/debug", headers=ADMIN, json=bad)
            assert r.status_code == 422 and ("enabled" in r.text or "x" in r.text), r.text
        r = await client.put("/debug", headers=ADMIN, json={"enabled": True})
        assert r.status_code == 200 and r.json() == {"enabled": True}
        assert (await client.get("/debug")).json() == {"enabled": True}
        await client.get("/inv/b")
        assert len(_routes(caplog)) == 1 and "-> inv-1" in _routes(caplog)[0]
        assert (await client.put("/debug", headers=ADMIN, json={"enabled": False})).json() == {"enabled": False}
        await client.get("/inv/c")
        assert len(_routes(caplog)) == 1


def test_gateway_debug_setting() -> None:
    assert create_gateway(make_settings(GATEWAY_DEBUG=True, GATEWAY_SERVICES="")).debug_mode is True
    assert create_gateway(make_settings(GATEWAY_SERVICES="")).debug_mode is False


@pytest.mark.anyio
@pytest.mark.slow
async def test_debug_switch_on_the_served_gateway_process(upstreams) -> None:  # type: ignore[no-untyped-def]
    """The production command (`inventory-system serve gateway`): PUT /debug makes its log show routes."""
    up = await upstreams("inv")
    port = free_port()
    env = {**os.environ, "GATEWAY_SERVICES": f"inv={up.url}", "HEALTH_CHECK_INTERVAL": "3600",
           "PYTHONPATH": str(ROOT), "LOG_LEVEL": "INFO", "ADMIN_TOKEN": ADMIN_TOKEN}
    for key in ("JWT_SECRET", "REDIS_URL", "RATE_LIMIT_REDIS_URL", "JWT_PUBLIC_KEY", "JWT_JWKS_URL"):
        env.pop(key, None)
    url = f"http://127.0.0.1:{port}"
    gateway = Spawned([sys.executable, "-m", "sync.cli", "serve", "gateway", "--host", "127.0.0.1",
                       "--port", str(port)], ready=answers(f"{url}/health"), cwd=ROOT, env=env, stop_timeout=10,
                      what="gateway process")
    async with gateway, httpx.AsyncClient(base_url=url) as client:
        assert (await client.get("/inv/before")).status_code == 200
        assert (await client.put("/debug", headers=ADMIN, json={"enabled": True})).status_code == 200
        assert (await client.get("/inv/after")).status_code == 200
        text = ""
        for _ in range(100):
            text = gateway.output()
            if "route GET /inv/after" in text:
                break
            await asyncio.sleep(0.05)
    assert "route GET /inv/after -> inv-1" in text, text
    assert "route GET /inv/before" not in text


@pytest.mark.slow
def test_ml_put_debug_logs_predictions(tmp_path, caplog) -> None:  # type: ignore[no-untyped-def]
    settings = Settings(ML_MODEL_PATH=tmp_path / "models", ML_TRAINING_DATA_PATH=tmp_path / "data",
                        ADMIN_TOKEN="admin-token-for-test")  # type: ignore[arg-type]
    try:
        with serving_ml(create_ml_app(settings)) as ml:
            assert requests.put(ml.base + "/debug", json={"enabled": True}, timeout=10).status_code == 401
            ml.session.headers["authorization"] = "Bearer admin-token-for-test"
            assert ml.post("/predict", json=seed_body(120)).status_code == 200
            assert not [r for r in caplog.records if r.getMessage().startswith("predict demand_forecast")]
            r = ml.session.put(ml.base + "/debug", json={"enabled": "on"}, timeout=10)
            assert r.status_code == 422 and "enabled" in r.text
            r = ml.session.put(ml.base + "/debug", json={"enabled": True}, timeout=10)
            assert r.status_code == 200 and r.json() == {"enabled": True}
            assert ml.app.state.ml.debug_mode is True
            assert ml.post("/predict", json=seed_body(121)).status_code == 200
            lines = [r for r in caplog.records if r.getMessage().startswith("predict demand_forecast")]
            assert len(lines) == 1 and lines[0].levelno == logging.DEBUG
            assert ml.session.put(ml.base + "/debug", json={"enabled": False}, timeout=10).json() == {"enabled": False}
            assert ml.post("/predict", json=seed_body(122)).status_code == 200
            assert len([r for r in caplog.records if r.getMessage().startswith("predict demand_forecast")]) == 1
        with serving_ml(create_ml_app(settings.model_copy(update={"ML_DEBUG": True}))) as ml:
            assert ml.app.state.ml.debug_mode is True
    finally:
        logging.getLogger("sync.ml").setLevel(logging.NOTSET)
