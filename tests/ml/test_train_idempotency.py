"""``POST /train`` with an ``Idempotency-Key``: a real ML service process killed right after it saved the
model, then a retry on a fresh process that answers the first result and trains no second version.

The first process runs the real service with one change: ``ModelStore.save`` kills the process
(SIGKILL) right after it saved a version tagged with an idempotency key, i.e. between the commit
point and the answer. Nothing is mocked in the process that answers the retry.
"""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import requests

from sync.ml.idempotency import key_hash
from tests.ml.data import demand_frame
from tests.serving import Spawned, answers, free_port

KILL_AFTER_TAGGED_SAVE = """
import os, signal, sys
import sync.ml.store as store
original = store.ModelStore.save
def save(self, *args, **kwargs):
    version = original(self, *args, **kwargs)
    if store._EXTRA_METADATA.get():
        os.kill(os.getpid(), signal.SIGKILL)
    return version
store.ModelStore.save = save
from sync.cli import main
sys.exit(main(["serve", "ml", "--port", sys.argv[1]]))
"""
KEY = "train-2026-12-03-demand"


def _env(tmp: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ML_", "ADMIN"))}
    env.update(ML_MODEL_PATH=str(tmp / "models"), ML_TRAINING_DATA_PATH=str(tmp / "data"),
               PYTHONPATH=os.pathsep.join(filter(None, [str(Path(__file__).resolve().parents[2]),
                                                        os.environ.get("PYTHONPATH")])))
    return env


def _start(tmp: Path, argv: list[str]) -> tuple[Spawned, str]:
    """The ML service (``argv`` + a free port), once its /health answers at all (it loads models meanwhile)."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    service = Spawned([sys.executable, *argv, str(port)], ready=answers(f"{base}/health", status=None), cwd=tmp,
                      env=_env(tmp), timeout=120, stop_timeout=30, what="ML service")
    return service.start(), base


def _versions(tmp: Path) -> list[str]:
    return sorted(p.name for p in (tmp / "models" / "demand_forecast").glob("v*.json"))


def _body(seed: int) -> dict[str, Any]:
    return {"model_name": "demand_forecast", "replace": True,
            "data": demand_frame(120, seed=seed).to_dict("records")}


@pytest.mark.e2e
@pytest.mark.slow
def test_a_retry_after_a_kill_right_after_saving_trains_no_second_version(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    proc, base = _start(tmp_path, ["-c", KILL_AFTER_TAGGED_SAVE])  # trains and saves the built-ins' v1 on start
    try:
        assert _versions(tmp_path) == ["v0001.json"]
        with pytest.raises(requests.ConnectionError):  # the client sees a failure
            requests.post(f"{base}/train", json=_body(1), headers={"Idempotency-Key": KEY}, timeout=120)
        proc.wait(30)
        assert proc.returncode == -signal.SIGKILL
    finally:
        proc.stop()
    assert _versions(tmp_path) == ["v0001.json", "v0002.json"]  # it did save before it died
    staged = tmp_path / "data" / f".demand.{key_hash(KEY)}.staged.csv"
    assert staged.is_file()  # the rows were staged, not yet moved in
    leftover = tmp_path / "data" / ".demand.csv.k1ll3d.tmp"
    leftover.write_bytes(b"")  # what a kill during a plain write leaves: a 0-byte temp file
    (tmp_path / "models" / "demand_forecast" / ".artifact.k1ll3d").write_bytes(b"half")

    proc, base = _start(tmp_path, ["-m", "sync.cli", "serve", "ml", "--port"])
    try:
        # start-up finished the committed request's data and removed every temporary file
        assert not staged.exists() and not leftover.exists()
        assert not [p for p in (tmp_path / "data").iterdir() if p.name.startswith(".")]
        assert not (tmp_path / "models" / "demand_forecast" / ".artifact.k1ll3d").exists()
        assert len(pd.read_csv(tmp_path / "data" / "demand.csv")) == 120
        health = requests.get(f"{base}/health", timeout=10).json()
        assert health["dependencies"]["models"]["models"]["demand_forecast"]["version"] == "v2"

        retry = requests.post(f"{base}/train", json=_body(1), headers={"Idempotency-Key": KEY}, timeout=120)
        assert retry.status_code == 200, retry.text
        assert retry.headers["Idempotent-Replayed"] == "true"
        first = retry.json()
        assert first["model_version"] == "v2" and first["rows"] == 120 and first["data_type"] == "demand"
        assert _versions(tmp_path) == ["v0001.json", "v0002.json"]  # trained nothing

        again = requests.post(f"{base}/train", json=_body(1), headers={"Idempotency-Key": KEY}, timeout=120)
        assert again.status_code == 200 and again.json() == first

        other = requests.post(f"{base}/train", json=_body(2), headers={"Idempotency-Key": KEY}, timeout=120)
        assert other.status_code == 409, other.text
        assert other.json()["error"]["code"] == "idempotency_key_reused"
        assert _versions(tmp_path) == ["v0001.json", "v0002.json"]
        assert len(pd.read_csv(tmp_path / "data" / "demand.csv")) == 120  # the refused body added nothing
    finally:
        proc.stop()

    proc, base = _start(tmp_path, ["-m", "sync.cli", "serve", "ml", "--port"])
    try:  # the answer survives a restart
        replay = requests.post(f"{base}/train", json=_body(1), headers={"Idempotency-Key": KEY}, timeout=120)
        assert replay.status_code == 200 and replay.json() == first
        assert _versions(tmp_path) == ["v0001.json", "v0002.json"]
    finally:
        proc.stop()


@pytest.mark.slow
def test_in_process_replay_conflict_and_a_failed_request_that_records_nothing(tmp_path: Path) -> None:
    from sync.ml.service import create_app
    from sync.settings import Settings
    from tests.ml.servers import serving

    settings = Settings(ML_MODEL_PATH=tmp_path / "models", ML_TRAINING_DATA_PATH=tmp_path / "data")
    with serving(create_app(settings)) as client:
        bad = _body(3)
        for row in bad["data"]:
            row["price"] = None  # a column the model cannot learn from: 422, nothing staged or recorded
        resp = client.post("/train", json=bad, headers={"Idempotency-Key": "k"})
        assert resp.status_code == 422, resp.text
        assert not [p for p in (tmp_path / "data").glob(".*")] and not (tmp_path / "models" / ".idempotency").exists()
        first = client.post("/train", json=_body(3), headers={"Idempotency-Key": "k"})  # the key is still free
        assert first.status_code == 200 and "Idempotent-Replayed" not in first.headers
        assert first.json()["model_version"] == "v2"
        again = client.post("/train", json=_body(3), headers={"Idempotency-Key": "k"})
        assert again.json() == first.json() and again.headers["Idempotent-Replayed"] == "true"
        assert client.post("/train", json=_body(4), headers={"Idempotency-Key": "k"}).status_code == 409
        unkeyed = client.post("/train", json=_body(3))  # no key: a new version each time
        assert unkeyed.json()["model_version"] == "v3"
        too_long = client.post("/train", json=_body(3), headers={"Idempotency-Key": "x" * 256})
        assert too_long.status_code == 422 and "Idempotency-Key" in too_long.json()["error"]["message"]
        assert _versions(tmp_path) == ["v0001.json", "v0002.json", "v0003.json"]
        assert not [p for p in (tmp_path / "data").glob(".*")]
