"""CPU cost of the service metrics middleware per request (sync/web/metrics.py).

Calls a FastAPI app built by ``create_service_app`` in process, straight through ASGI (no server, no
socket), on a trivial route, with and without the metrics middleware, in alternating rounds; prints the
CPU microseconds per request of each and the difference. CPU time (``time.process_time``), so other jobs
on the machine change it less than wall time.

    .venv/bin/python bench/service_metrics.py [--requests 20000] [--rounds 5]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from typing import Any

from fastapi import FastAPI

from sync.settings import Settings
from sync.web import create_service_app
from sync.web.metrics import PrometheusMetrics


def build(with_metrics: bool) -> FastAPI:
    app = create_service_app(title="Bench service", settings=Settings())
    if not with_metrics:
        app.user_middleware = [m for m in app.user_middleware if m.cls is not PrometheusMetrics]

    @app.get("/items/{item}")
    async def item(item: str) -> dict[str, str]:
        return {"item": item}

    return app


async def run(app: Any, n: int) -> float:
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET", "scheme": "http",
             "path": "/items/a", "raw_path": b"/items/a", "root_path": "", "query_string": b"",
             "headers": [(b"host", b"bench")], "client": ("127.0.0.1", 1), "server": ("bench", 80)}

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        return None

    for _ in range(200):  # warm-up (builds the middleware stack)
        await app(dict(scope), receive, send)
    started = time.process_time()
    for _ in range(n):
        await app(dict(scope), receive, send)
    return (time.process_time() - started) / n * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    apps = {"without": build(False), "with": build(True)}
    results: dict[str, list[float]] = {"without": [], "with": []}
    for _ in range(args.rounds):
        for name, app in apps.items():
            results[name].append(asyncio.run(run(app, args.requests)))
    for name, values in results.items():
        print(f"{name:>7} metrics: median {statistics.median(values):7.1f} us CPU/request  "
              f"(rounds {min(values):.1f}-{max(values):.1f}, {args.requests} requests each)")
    counted = sum(apps["with"].state.service_metrics.requests.values())
    uncounted = sum(apps["without"].state.service_metrics.requests.values())
    assert counted >= args.rounds * args.requests and uncounted == 0, (counted, uncounted)
    added = statistics.median(results["with"]) - statistics.median(results["without"])
    print(f"added by the metrics middleware: {added:.1f} us CPU/request")


if __name__ == "__main__":
    main()
