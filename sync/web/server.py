"""Run a service's ASGI app on uvicorn (uvloop + httptools). The gateway has its own launcher,
:func:`sync.gateway.launch.serve_gateway`."""

from __future__ import annotations

from typing import Any

import uvicorn


def serve(app: Any, *, host: str, port: int, log_level: str = "info") -> None:
    """Serve ``app`` until SIGINT/SIGTERM. uvicorn's default ``proxy_headers`` stays on: the services sit
    behind the gateway, so they see the client address the gateway reports in ``X-Forwarded-For``."""
    uvicorn.run(app, host=host, port=port, loop="uvloop", http="httptools", log_level=log_level.lower(),
                access_log=False, timeout_graceful_shutdown=5)
