"""Entry point for gateway subprocesses in tests: ``uvicorn --factory tests.gateway.gateway_proc:app``."""

from __future__ import annotations

from typing import Any

from sync.gateway.service import create_gateway


def app() -> Any:
    return create_gateway().app
