"""The ML app on a real port (uvicorn in a background thread) and a small client bound to it."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import requests
from fastapi import FastAPI

from tests.serving import free_port, running


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
    with running(app, free_port(), timeout=timeout) as base:
        client = Client(base, app)
        try:
            yield client
        finally:
            client.session.close()
