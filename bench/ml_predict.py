"""Single-prediction latency of the ML service: in process and over real HTTP (SPEC goal p50 <= 5 ms).

Starts ``inventory-system serve ml`` on a free port with a throwaway ML_MODEL_PATH (so the service
trains its built-ins on the bundled sample at start, timing that too), then sends sequential
``POST /predict`` requests on one keep-alive connection: first with distinct features every time
(cache misses: the model really runs), then the seed's body repeated (cache hits).

    .venv/bin/python bench/ml_predict.py [--requests 2000]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import requests

SEED_FEATURES = {"historical_demand": 120, "seasonality": 0.5, "trend": 10, "price": 50, "promotions": 1}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def percentiles(samples_ms: list[float]) -> str:
    q = np.percentile(samples_ms, [50, 90, 99])
    return f"p50 {q[0]:.3f} ms  p90 {q[1]:.3f} ms  p99 {q[2]:.3f} ms  (n={len(samples_ms)})"


def distinct_features(n: int) -> list[dict[str, float]]:
    rng = np.random.default_rng(0)
    return [{"historical_demand": float(rng.uniform(0, 300)), "seasonality": float(rng.uniform(-1, 1)),
             "trend": float(rng.uniform(0, 100)), "price": float(rng.uniform(1, 20)),
             "promotions": float(rng.integers(0, 2))} for _ in range(n)]


def in_process(n: int, root: Path) -> None:
    from sync.ml import MLInventoryIntelligence
    from sync.settings import Settings

    ml = MLInventoryIntelligence(settings=Settings(ML_MODEL_PATH=root / "models"))
    ml.load_model("demand_forecast")
    rows = distinct_features(n)
    times = []
    for row in rows:
        started = time.perf_counter()
        ml.predict("demand_forecast", row)
        times.append((time.perf_counter() - started) * 1000)
    print(f"in process, cache miss : {percentiles(times)}")
    fitted = ml.models["demand_forecast"].fitted_
    X = np.array([list(r.values()) for r in rows[:200]])
    times = []
    for row in X:
        started = time.perf_counter()
        fitted.pipeline.predict(row.reshape(1, -1))
        times.append((time.perf_counter() - started) * 1000)
    print(f"in process, sklearn Pipeline.predict (what the fast path replaces): {percentiles(times)}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=2000)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="ml-bench-"))
    port = free_port()
    env = dict(os.environ, ML_MODEL_PATH=str(root / "models"), ML_TRAINING_DATA_PATH=str(root / "data"),
               LOG_LEVEL="WARNING")
    started = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "sync.cli", "serve", "ml", "--port", str(port)], env=env,
                            cwd=root)
    base = f"http://127.0.0.1:{port}"
    try:
        session = requests.Session()
        while True:
            try:
                if session.get(f"{base}/health", timeout=1).status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            if proc.poll() is not None or time.perf_counter() - started > 120:
                print("the ML service did not start", file=sys.stderr)
                return 1
            time.sleep(0.1)
        print(f"service start incl. import and training the 3 built-ins: {time.perf_counter() - started:.2f} s")
        for features in distinct_features(50):  # warm-up
            session.post(f"{base}/predict", json={"model_name": "demand_forecast", "features": features})
        # http.client on one keep-alive connection: far less client overhead than requests
        conn = http.client.HTTPConnection("127.0.0.1", port)
        headers = {"Content-Type": "application/json"}
        for label, bodies in (
            ("HTTP POST /predict, cache miss", distinct_features(args.requests)),
            ("HTTP POST /predict, cache hit ", [SEED_FEATURES] * args.requests),
        ):
            payloads = [json.dumps({"model_name": "demand_forecast", "features": f}) for f in bodies]
            times = []
            for payload in payloads:
                t0 = time.perf_counter()
                conn.request("POST", "/predict", body=payload, headers=headers)
                resp = conn.getresponse()
                data = resp.read()
                times.append((time.perf_counter() - t0) * 1000)
                assert resp.status == 200, data
            print(f"{label}: {percentiles(times)}  mean {statistics.fmean(times):.3f} ms")
        conn.close()
        in_process(args.requests, root)
        print("HTTP timings are client-side round trips; 2 shared cores with other jobs running, so figures "
              "are noisy")
    finally:
        proc.terminate()
        proc.wait(15)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
