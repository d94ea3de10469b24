"""Stage 2: the request id (kept when the client's is sane, else generated) and per-request metrics."""

from __future__ import annotations

import os
import re
import time

from sync.errors import SyncError
from sync.gateway.metrics import GatewayMetrics
from sync.gateway.stages.context import RequestContext
from sync.gateway.types import ASGIApp, Message, Receive, Scope, Send

_VALID = re.compile(rb"^[A-Za-z0-9._:\-]{1,128}$")


class RequestId:
    def __init__(self, app: ASGIApp, metrics: GatewayMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = time.perf_counter()
        request_id = None
        for name, value in scope["headers"]:
            if name == b"x-request-id":
                if _VALID.match(value):
                    request_id = value
                break
        ctx = scope["gateway"] = RequestContext(request_id or os.urandom(16).hex().encode())
        status = 0

        async def record(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, record)
        except SyncError as exc:
            status = status or exc.status
            raise
        finally:
            self.metrics.observe(ctx.service, scope["method"], status or 500, time.perf_counter() - started)
