"""Outermost stage: every exception becomes the SPEC's JSON error; a stack trace never leaves.

It does not wrap ``send`` (a closure per response costs throughput); whether the response has started
is read from the request context's ``status``, which whoever starts a response sets. The answer is the
services' own (``sync.web.errors.error_response``), with the headers stages added to the context.
"""

from __future__ import annotations

import logging

from sync.errors import SyncError
from sync.gateway.types import ASGIApp, Receive, Scope, Send
from sync.web.errors import error_response

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
            if ctx is not None:
                ctx.status = exc.status
            await error_response(exc, ctx.response_headers if ctx is not None else ())(scope, receive, send)
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
                await error_response(SyncError("internal server error"))(scope, receive, send)
