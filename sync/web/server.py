"""Run an ASGI app: the services on uvicorn (uvloop + httptools), the gateway on :mod:`sync.web.edge`."""

from __future__ import annotations

from typing import Any

import uvicorn


def serve(app: Any, *, host: str, port: int, log_level: str = "info", proxy_headers: bool = True,
          edge: bool = False) -> None:
    """Serve ``app``. ``edge=True`` (the gateway) uses the lean edge server, which never rewrites the
    client address: the gateway applies GATEWAY_TRUSTED_PROXIES itself. Otherwise uvicorn;
    ``proxy_headers=False`` there stops it from taking the client address from ``X-Forwarded-For``
    whenever the peer is loopback. The services behind the gateway keep uvicorn's default, so they see the
    client the gateway reports."""
    if edge:
        from sync.web.edge import run

        run(app, host=host, port=port, graceful_timeout=5.0)
        return
    uvicorn.run(app, host=host, port=port, loop="uvloop", http="httptools", log_level=log_level.lower(),
                access_log=False, timeout_graceful_shutdown=5, proxy_headers=proxy_headers)
