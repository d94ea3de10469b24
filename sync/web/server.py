"""Run an ASGI app with uvicorn on uvloop + httptools (the fast loop and parser)."""

from __future__ import annotations

from typing import Any

import uvicorn


def serve(app: Any, *, host: str, port: int, log_level: str = "info") -> None:
    uvicorn.run(app, host=host, port=port, loop="uvloop", http="httptools", log_level=log_level.lower(),
                access_log=False, timeout_graceful_shutdown=5)
