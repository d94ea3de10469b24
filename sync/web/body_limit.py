"""ASGI middleware refusing request bodies over a size limit with 413, before the app reads them.

A declared ``Content-Length`` over the limit is refused at once; a body without one (chunked) is
counted as it arrives and refused with 413 as soon as it passes the limit.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from sync.errors import PayloadTooLarge
from sync.web.errors import error_response


class _TooLarge(Exception):
    pass


class BodySizeLimit:
    """``max_bytes`` for every path, except the exact paths in ``overrides`` (an upload route, say)."""

    def __init__(self, app: ASGIApp, max_bytes: int, overrides: dict[str, int] | None = None) -> None:
        self.app = app
        self.default_max = max_bytes
        self.overrides = dict(overrides or {})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        max_bytes = self.overrides.get(scope["path"], self.default_max)
        for name, value in scope.get("headers", ()):
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    declared = -1
                if declared > max_bytes:
                    await _refuse(scope, receive, send, max_bytes)
                    return
        seen = 0
        started = refused = False

        async def limited_receive() -> Message:
            nonlocal seen, refused
            if refused:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > max_bytes:
                    # Answer 413 now: FastAPI turns any error while it reads the body into a 400, so the
                    # app is told the client left and whatever it answers after this is dropped.
                    if not started:
                        refused = True
                        await _refuse(scope, receive, send, max_bytes)
                        return {"type": "http.disconnect"}
                    raise _TooLarge
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if refused:
                return
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except _TooLarge:
            if not started and not refused:
                await _refuse(scope, receive, send, max_bytes)
        except Exception:
            if not refused:
                raise


async def _refuse(scope: Scope, receive: Receive, send: Send, max_bytes: int) -> None:
    refusal = PayloadTooLarge(f"request body over {max_bytes} bytes", details={"max_bytes": max_bytes})
    await error_response(refusal)(scope, receive, send)
