"""Several edge-server processes on one port (SO_REUSEPORT): the kernel spreads connections over them.

The parent forks the workers before any event loop exists; each builds its own application, so nothing
is shared between them but the port. State that must be shared (the gateway's registry and exact rate
limits) has to live in Redis. SIGTERM or SIGINT to the parent stops every worker; if one worker dies on
its own, the parent stops the others and exits with 1, so a process manager notices.
"""

from __future__ import annotations

import logging
import os
import signal
from collections.abc import Callable
from typing import Any

from sync.supervisor import die_with_parent
from sync.web.edge import run

log = logging.getLogger("sync.web.workers")


def serve_workers(make_app: Callable[[], Any], *, host: str, port: int, workers: int, **options: Any) -> int:
    """Serve ``make_app()`` with ``workers`` edge-server processes on ``host:port``; returns an exit code."""
    if workers <= 1:
        run(make_app(), host=host, port=port, **options)
        return 0
    children: set[int] = set()
    for _ in range(workers):
        pid = os.fork()
        if pid == 0:  # the worker
            code = 0
            try:
                die_with_parent()
                run(make_app(), host=host, port=port, reuse_port=True, **options)
            except BaseException:
                log.exception("gateway worker failed")
                code = 1
            finally:
                os._exit(code)
        children.add(pid)
    log.info("%d workers on http://%s:%d (pids %s)", workers, host, port, sorted(children))
    stopping = False

    def stop_all(signum: int = signal.SIGTERM, frame: object = None) -> None:
        nonlocal stopping
        stopping = True
        for child in children:
            try:
                os.kill(child, signal.SIGTERM)
            except ProcessLookupError:
                pass

    signal.signal(signal.SIGTERM, stop_all)
    signal.signal(signal.SIGINT, stop_all)
    code = 0
    while children:
        pid, status = os.wait()
        children.discard(pid)
        if not stopping:
            log.error("worker %d exited (%s); stopping the others", pid, os.waitstatus_to_exitcode(status))
            code = 1
            stop_all()
    return code
