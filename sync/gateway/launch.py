"""The one way to launch the gateway: :func:`serve_gateway`, called by ``inventory-system serve gateway``
(which ``inventory-system up``/``make run`` start as a child process) and so by ``bench/gateway.py``.

It takes everything from the :class:`~sync.settings.Settings`: address (``GATEWAY_HOST``/``GATEWAY_PORT``,
overridable by the command line), processes (``GATEWAY_WORKERS``; more than one needs ``REDIS_URL``, so
the registry and exact limits are shared), ``LOG_LEVEL`` and the server (``GATEWAY_SERVER``: granian,
which replaced the hand-written edge server by measurement, see docs/gateway.md; or uvicorn, the
benchmark's reference). Whatever the server, it never rewrites the client address from
``X-Forwarded-For``: the gateway applies ``GATEWAY_TRUSTED_PROXIES`` itself, to the socket peer.
"""

from __future__ import annotations

import functools
import logging
import sys
from typing import Any

from sync.settings import Settings

log = logging.getLogger("sync.gateway.launch")

HEAD_TIMEOUT = 10.0  # seconds a request head may take to arrive; also the keep-alive idle timeout
MAX_HEAD_BYTES = 64 * 1024  # largest request head (granian's read buffer; its minimum is 8 KiB)


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
    if settings.GATEWAY_SERVER == "uvicorn":
        return _serve_uvicorn(settings, host, port, workers)
    return _serve_granian(settings, host, port, workers)


def http1_settings(head_timeout: float = HEAD_TIMEOUT) -> Any:
    """granian's HTTP/1 limits for the gateway: a request head must arrive within ``head_timeout`` seconds
    (granian then closes the connection; the same timer closes a keep-alive connection idle that long)
    and may be at most ``MAX_HEAD_BYTES`` (else 431)."""
    from granian.http import HTTP1Settings

    return HTTP1Settings(header_read_timeout=int(head_timeout * 1000), keep_alive=True, max_buffer_size=MAX_HEAD_BYTES)


def _serve_granian(settings: Settings, host: str, port: int, workers: int) -> int:
    """granian's ASGI interface, single-threaded Rust runtime and uvloop in each of ``workers`` processes
    (granian's own workers share the listening socket; the parent stops them on SIGINT/SIGTERM)."""
    from granian.constants import Interfaces, Loops, RuntimeModes
    from granian.log import LogLevels
    from granian.server import Server

    server = Server("sync.gateway.launch:build_gateway_app", address=host, port=port, interface=Interfaces.ASGI,
                    workers=workers, runtime_mode=RuntimeModes.st, loop=Loops.uvloop,
                    log_level=LogLevels(settings.LOG_LEVEL.lower()), log_access=False, websockets=False,
                    backlog=2048, workers_kill_timeout=5, http1_settings=http1_settings())
    server.serve(target_loader=functools.partial(build_gateway_app, settings))
    return 0


def _serve_uvicorn(settings: Settings, host: str, port: int, workers: int) -> int:
    """uvicorn (uvloop + httptools): the benchmark's reference, and what the seed's ``uvicorn.run`` gets.
    ``proxy_headers=False``: uvicorn would otherwise take the client address from ``X-Forwarded-For``
    whenever the peer is loopback."""
    import uvicorn

    if workers > 1:
        print("GATEWAY_SERVER=uvicorn serves one process (uvicorn's workers need an import string)",
              file=sys.stderr)
        return 2
    uvicorn.run(build_gateway_app(settings), host=host, port=port, loop="uvloop", http="httptools",
                log_level=settings.LOG_LEVEL.lower(), access_log=False, timeout_graceful_shutdown=5,
                proxy_headers=False, lifespan="on")
    return 0
