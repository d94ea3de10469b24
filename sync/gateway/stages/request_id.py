"""The request id (kept when the client's is sane, else generated) and per-request metrics."""

from __future__ import annotations

import os
import re
import sys
import time
from dataclasses import dataclass

from sync.errors import SyncError
from sync.gateway.metrics import GatewayMetrics
from sync.gateway.stages.context import RequestContext
from sync.gateway.types import ASGIApp, Receive, Scope, Send

_VALID = re.compile(rb"^[A-Za-z0-9._:\-]{1,128}$")


@dataclass(slots=True, eq=False)
class RequestId:
    app: ASGIApp
    metrics: GatewayMetrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = time.perf_counter()
        request_id = None
        for name, value in scope["headers"]:
            if name == b"x-request-id":
                if _VALID.match(value):
                    request_id = value
                break
        ctx = scope["gateway"] = RequestContext(request_id or os.urandom(16).hex().encode())
        try:
            await self.app(scope, receive, send)
        finally:
            # ErrorHandling (outside) answers exceptions; it sets the status it will send.
            self.metrics.observe(ctx.service, scope["method"], ctx.status or _status_of_pending_error(),
                                 time.perf_counter() - started)


def _status_of_pending_error() -> int:
    exc = sys.exc_info()[1]
    return exc.status if isinstance(exc, SyncError) else 500
