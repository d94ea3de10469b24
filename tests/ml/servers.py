"""The ML app on a real port (uvicorn in a background thread) and a small client bound to it."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import requests
import uvicorn
from fastapi import FastAPI

from tests.servers import free_port


class Client:
    """``requests`` with the server's base URL; ``app`` is the served FastAPI app (for state checks)."""

    def __init__(self, base: str, app: FastAPI) -> None:
        self.base = base
        self.app = app
        self.session = requests.Session()

    def get(self, path: str, **kwargs: Any) -> requests.Response:
        return self.session.get(self.base + path, timeout=60, **kwargs)

    def post(self, path: str, **kwargs: Any) -> requests.Response:
        return self.session.post(self.base + path, timeout=120, **kwargs)


@contextmanager
def serving(app: FastAPI, *, timeout: float = 120.0) -> Iterator[Client]:
    """Serve ``app`` (lifespan included, so start-up training runs) until the block ends."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                                           lifespan="on", access_log=False))
    thread = threading.Thread(target=server.run, name=f"ml-uvicorn-{port}", daemon=True)
    thread.start()
    deadline = time.monotonic() + timeout
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            raise RuntimeError(f"ML app on port {port} did not start")
        time.sleep(0.02)
    client = Client(f"http://127.0.0.1:{port}", app)
    try:
        yield client
    finally:
        client.session.close()
        server.should_exit = True
        thread.join(30)
