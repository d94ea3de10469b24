"""Outermost stage: every exception becomes the SPEC's JSON error; a stack trace never leaves.

It does not wrap ``send`` (a closure per response costs throughput); whether the response has started
is read from the request context's ``status``, which whoever starts a response sets.
"""

from __future__ import annotations

import logging

from sync.errors import SyncError
from sync.gateway.types import ASGIApp, Receive, Scope, Send, send_json

log = logging.getLogger("sync.gateway")


class ErrorHandling:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await self.app(scope, receive, send)
        except SyncError as exc:
            ctx = scope.get("gateway")
            if ctx is not None and ctx.status:
                log.warning("error after the response started on %s: %s", scope.get("path"), exc.message)
                return
            headers = list(getattr(exc, "headers", None) or [])
            if ctx is not None:
                headers.extend(ctx.response_headers)
                ctx.status = exc.status
            await send_json(send, exc.status, exc.to_dict(), headers)
        except Exception as exc:
            ctx = scope.get("gateway")
            if isinstance(exc, OSError) and ctx is not None and ctx.status:
                # the client went away mid-response: nothing to answer, nothing to alarm anyone about
                log.info("client gone during %s %s: %s", scope.get("method"), scope.get("path"), exc)
                return
            log.exception("unhandled error on %s %s", scope.get("method"), scope.get("path"))
            if ctx is None or not ctx.status:
                if ctx is not None:
                    ctx.status = 500
                await send_json(send, 500, {"error": {"code": "internal_error",
                                                      "message": "internal server error", "details": None}})


class GatewayError(SyncError):
    """A SyncError that carries response headers (Retry-After, WWW-Authenticate, rate-limit headers)."""

    def __init__(self, base: type[SyncError], message: str, *, headers: list[tuple[bytes, bytes]] | None = None,
                 details: object = None, code: str | None = None) -> None:
        super().__init__(message, details=details, code=code or base.code)
        self.status = base.status
        self.headers = headers or []
