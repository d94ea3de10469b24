"""The one way to launch the gateway: :func:`serve_gateway`, called by ``inventory-system serve gateway``
(which ``inventory-system up``/``make run`` start as a child process) and so by ``bench/gateway.py``.

It takes everything from the :class:`~sync.settings.Settings`: address (``GATEWAY_HOST``/``GATEWAY_PORT``,
overridable by the command line), processes (``GATEWAY_WORKERS``; more than one needs ``REDIS_URL``, so
the registry and exact limits are shared), ``LOG_LEVEL`` and the server (``GATEWAY_SERVER``). Whatever
the server, it never rewrites the client address from ``X-Forwarded-For``: the gateway applies
``GATEWAY_TRUSTED_PROXIES`` itself, to the socket peer the server reports.
"""

from __future__ import annotations

import functools
import logging
import sys
from typing import Any

from sync.settings import Settings

log = logging.getLogger("sync.gateway.launch")


def build_gateway_app(settings: Settings, *_: object) -> Any:
    """The gateway's ASGI app for ``settings`` (what every server here serves; extra arguments, which
    granian's loader passes, are ignored)."""
    from sync.gateway.service import create_gateway

    return create_gateway(settings).app


def serve_gateway(settings: Settings, *, host: str | None = None, port: int | None = None,
                  workers: int | None = None) -> int:
    """Serve the gateway until SIGINT/SIGTERM; returns the process's exit code."""
    host = host or settings.GATEWAY_HOST
    port = port or settings.GATEWAY_PORT
    workers = workers or settings.GATEWAY_WORKERS
    if workers > 1 and not settings.REDIS_URL:
        print(f"{workers} gateway workers need REDIS_URL: without it each worker would keep its own registry "
              "and its own rate limits (N workers would admit N times the limit)", file=sys.stderr)
        return 2
    server = settings.GATEWAY_SERVER
    if server == "granian":
        return _serve_granian(settings, host, port, workers)
    if server == "uvicorn":
        return _serve_uvicorn(settings, host, port, workers)
    from sync.web.workers import serve_workers

    return serve_workers(functools.partial(build_gateway_app, settings), host=host, port=port, workers=workers,
                         graceful_timeout=5.0)


def _serve_granian(settings: Settings, host: str, port: int, workers: int) -> int:
    """granian's ASGI interface, single-threaded Rust runtime and uvloop in each of ``workers`` processes."""
    from granian.constants import Interfaces, Loops, RuntimeModes
    from granian.log import LogLevels
    from granian.server import Server

    server = Server("sync.gateway.launch:build_gateway_app", address=host, port=port, interface=Interfaces.ASGI,
                    workers=workers, runtime_mode=RuntimeModes.st, loop=Loops.uvloop,
                    log_level=LogLevels(settings.LOG_LEVEL.lower()), log_access=False, websockets=False,
                    backlog=2048, workers_kill_timeout=5)
    server.serve(target_loader=functools.partial(build_gateway_app, settings))
    return 0


def _serve_uvicorn(settings: Settings, host: str, port: int, workers: int) -> int:
    """uvicorn (uvloop + httptools), the reference the edge server was first measured against."""
    import uvicorn

    if workers > 1:
        print("GATEWAY_SERVER=uvicorn serves one process (uvicorn's workers need an import string)",
              file=sys.stderr)
        return 2
    uvicorn.run(build_gateway_app(settings), host=host, port=port, loop="uvloop", http="httptools",
                log_level=settings.LOG_LEVEL.lower(), access_log=False, timeout_graceful_shutdown=5,
                proxy_headers=False, lifespan="on")
    return 0
