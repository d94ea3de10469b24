"""Run an ASGI app with uvicorn on uvloop + httptools (the fast loop and parser)."""

from __future__ import annotations

from typing import Any

import uvicorn


def serve(app: Any, *, host: str, port: int, log_level: str = "info", proxy_headers: bool = True) -> None:
    """Serve ``app``. ``proxy_headers=False`` for the edge (the gateway): uvicorn would otherwise take the
    client address from ``X-Forwarded-For`` whenever the peer is loopback, and a local reverse proxy that
    does not set it would make every caller look local. The gateway applies GATEWAY_TRUSTED_PROXIES itself.
    The services behind it keep uvicorn's default, so they see the client the gateway reports."""
    uvicorn.run(app, host=host, port=port, loop="uvloop", http="httptools", log_level=log_level.lower(),
                access_log=False, timeout_graceful_shutdown=5, proxy_headers=proxy_headers)
