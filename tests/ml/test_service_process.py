"""The ML service as a real process on a free port: the seed's request answers right after start."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
import requests

from tests.serving import Spawned, answers, free_port

SEED_BODY = {"model_name": "demand_forecast",
             "features": {"historical_demand": 120, "seasonality": 0.5, "trend": 10, "price": 50, "promotions": 1}}


@pytest.mark.e2e
def test_fresh_ml_service_answers_the_seed_predict_request(tmp_path: Path) -> None:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ML_", "ADMIN"))}
    env.update(ML_MODEL_PATH=str(tmp_path / "models"), ML_TRAINING_DATA_PATH=str(tmp_path / "data"))
    base = f"http://127.0.0.1:{port}"
    with Spawned([sys.executable, "-m", "sync.cli", "serve", "ml", "--port", str(port)], cwd=tmp_path, env=env,
                 ready=answers(f"{base}/health", status=None), timeout=120, stop_timeout=20, what="ML service"):
        health = requests.get(f"{base}/health", timeout=10)
        assert health.status_code == 200 and health.json()["status"] == "ok"
        resp = requests.post(f"{base}/predict", json=SEED_BODY, timeout=10)
        assert resp.status_code == 200, resp.text
        body = resp.json()
        assert body["lower"] <= body["prediction"] <= body["upper"] and body["model_version"] == "v1"
        bad = requests.post(f"{base}/predict", json={"model_name": "demand_forecast", "features": {"price": None}},
                            timeout=10)
        assert bad.status_code == 422 and bad.json()["error"]["details"][0]["field"] == "features.price"
        spec = requests.get(f"{base}/openapi.json", timeout=10).json()
        assert {"/predict", "/train", "/optimize", "/report", "/anomalies", "/forecast"} <= set(spec["paths"])
