"""Mixed-load benchmark: reads, movements and predictions through the gateway at rising concurrency.

One command (PostgreSQL from ``--database-url``, ``BENCH_DATABASE_URL`` or ``TEST_DATABASE_URL``, else
127.0.0.1:5432/test; a fresh database is created and dropped afterwards):

    .venv/bin/python bench/load.py [--steps 1,4,16,32,64] [--seconds 8] [--instances 1,2]

The stack is started as production starts it (``inventory-system serve NAME``, the gateway on granian),
with ``--instances`` inventory instances on one PostgreSQL database behind the gateway, plus the ML service.
Each step runs that many concurrent aiohttp clients for ``--seconds`` after a 1 s warm-up; a client's request is
a stock-level read (60%), a single movement (30%: receipts and shipments of one unit on 100 hot SKUs) or a
``/ml/predict`` (10%). Printed per step: requests/s, and p50/p99 latency per kind, with any non-2xx counted.
Rate limits are lifted for the run (it measures capacity, not the limiter's refusals).

The load generator runs on the same 2 cores as the stack, so figures are the whole machine's, not the stack's
alone; run it on a quiet machine.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import aiohttp
import httpx
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from inventory import LOCATION, fresh_database, seed  # noqa: E402

PREDICT = {"model_name": "demand_forecast",
           "features": {"historical_demand": 120, "seasonality": 0.5, "trend": 10, "price": 50, "promotions": 1}}
MIX = (("read", 0.6), ("move", 0.3), ("predict", 0.1))


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def serve(name: str, env: dict[str, str], workdir: Path, timeout: float = 120) -> Iterator[str]:
    """Start ``inventory-system serve NAME``; yield its URL once it answers (the gateway's ``/``, the others'
    ``/health``)."""
    port = _free_port()
    proc = subprocess.Popen([sys.executable, "-m", "sync.cli", "serve", name, "--port", str(port)], cwd=workdir,
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                if httpx.get(f"{url}/" if name == "gateway" else f"{url}/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline or proc.poll() is not None:
                raise RuntimeError(f"{name} did not start")
            time.sleep(0.2)
        yield url
    finally:
        proc.terminate()
        proc.wait(20)


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("REDIS", "RATE_LIMIT", "JWT", "DATABASE", "GATEWAY_SERVICES", "INVENTORY_URL"))}
    return env | {"DEMO_DATA": "false", "LOG_LEVEL": "WARNING", "RATE_LIMIT_DEFAULT_PER_MINUTE": "10000000",
                  "RATE_LIMIT_DEFAULT_PER_HOUR": "10000000"} | extra


async def _client(session: aiohttp.ClientSession, base: str, codes: list[str], stop_at: float, record_from: float,
                  latencies: dict[str, list[float]], errors: dict[str, int]) -> None:
    rng = random.Random()
    kinds = [kind for kind, _ in MIX]
    weights = [weight for _, weight in MIX]
    flip = False
    while (now := time.perf_counter()) < stop_at:
        kind = rng.choices(kinds, weights)[0]
        sku = rng.choice(codes)
        if kind == "read":
            request = session.get(f"{base}/inventory/levels", params={"sku": sku, "location": LOCATION})
        elif kind == "move":
            flip = not flip
            request = session.post(f"{base}/inventory/movements", json={
                "type": "shipment" if flip else "receipt", "sku": sku, "location": LOCATION, "quantity": 1})
        else:
            request = session.post(f"{base}/ml/predict", json=PREDICT)
        async with request as resp:
            await resp.read()
            status = resp.status
        if now >= record_from:
            latencies[kind].append(time.perf_counter() - now)
            if status >= 300:
                errors[f"{kind} {status}"] = errors.get(f"{kind} {status}", 0) + 1


async def _step(base: str, codes: list[str], clients: int, seconds: float) -> dict[str, object]:
    latencies: dict[str, list[float]] = {kind: [] for kind, _ in MIX}
    errors: dict[str, int] = {}
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=clients)) as session:
        start = time.perf_counter()
        await asyncio.gather(*(_client(session, base, codes, start + 1 + seconds, start + 1, latencies, errors)
                               for _ in range(clients)))
    row: dict[str, object] = {"clients": clients, "rps": sum(len(v) for v in latencies.values()) / seconds,
                              "errors": errors}
    for kind, values in latencies.items():
        row[kind] = (float(np.percentile(values, 50)) * 1000, float(np.percentile(values, 99)) * 1000) \
            if values else (float("nan"), float("nan"))
    return row


def run(server: str, instances: int, steps: list[int], seconds: float, workdir: Path) -> list[dict[str, object]]:
    with fresh_database(server) as db, ExitStack() as stack:
        inv = [stack.enter_context(serve("inventory", _env(DATABASE_URL=db), workdir)) for _ in range(instances)]
        ml = stack.enter_context(serve("ml", _env(INVENTORY_URL=inv[0], ML_MODEL_PATH=str(workdir / "models"),
                                                 ML_TRAINING_DATA_PATH=str(workdir / "training")), workdir))
        services = ",".join([f"inventory={u}" for u in inv] + [f"ml={ml}"])
        gateway = stack.enter_context(serve("gateway", _env(GATEWAY_SERVICES=services), workdir))
        codes = seed(inv[0], on_hand=1_000_000)
        rows = [asyncio.run(_step(gateway, codes, clients, seconds)) for clients in steps]
        recon = httpx.get(f"{inv[0]}/reconciliation", timeout=120).json()
        if not recon.get("ok"):
            print(f"reconciliation NOT clean: {recon}")
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", default=os.environ.get(
        "BENCH_DATABASE_URL", os.environ.get("TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test")))
    parser.add_argument("--steps", default="1,4,16,32,64")
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--instances", default="1,2")
    args = parser.parse_args()
    steps = [int(s) for s in args.steps.split(",")]
    import tempfile

    print(f"load average at start: {os.getloadavg()[0]:.2f}")
    results: dict[int, list[dict[str, object]]] = {}
    for instances in (int(i) for i in args.instances.split(",")):
        with tempfile.TemporaryDirectory() as tmp:
            results[instances] = run(args.database_url, instances, steps, args.seconds, Path(tmp))
        print(f"\n{instances} inventory instance(s) behind the gateway, {args.seconds:.0f} s per step")
        print(f"{'clients':>7} {'req/s':>8}  {'read p50/p99 ms':>16} {'move p50/p99 ms':>16} "
              f"{'predict p50/p99 ms':>19}  non-2xx")
        for row in results[instances]:
            cells = "".join(f" {row[k][0]:>7.1f}/{row[k][1]:<8.1f}" for k in ("read", "move", "predict"))  # type: ignore[index]
            print(f"{row['clients']:>7} {row['rps']:>8.0f} {cells}  {row['errors'] or '-'}")
    if len(results) > 1:
        base = min(results)
        for n in sorted(results)[1:]:
            ratios = [b["rps"] / a["rps"] for a, b in zip(results[base], results[n], strict=True)]  # type: ignore[operator]
            print(f"\nthroughput with {n} instances / with {base}: " + ", ".join(
                f"{s} clients {r:.2f}" for s, r in zip(steps, ratios, strict=True)))


if __name__ == "__main__":
    main()
