"""A request body that stops arriving is answered 408 and the connection closed.

The server (granian) times out a slow request head but not a slow body, so without this stage a client
could open many requests, send part of each body and hold a proxy slot and an upstream connection per
request for as long as it likes. Only the wait for the *next body part* is timed: once the body is complete
the stage passes ``receive`` through untouched, because the proxy then awaits it only to learn of a client
disconnect, which may rightly take as long as the response does.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from sync.errors import RequestTimeout
from sync.gateway.types import ASGIApp, Message, Receive, Scope, Send


@dataclass(slots=True, eq=False)
class BodyTimeout:
    app: ASGIApp
    seconds: float

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not _has_body(scope["headers"]):  # most proxied requests: nothing to wait for, nothing to time
            await self.app(scope, receive, send)
            return
        seconds = self.seconds
        body_done = False

        async def timed_receive() -> Message:
            nonlocal body_done
            if body_done:
                return await receive()
            try:
                async with asyncio.timeout(seconds):
                    message = await receive()
            except TimeoutError:
                raise RequestTimeout(f"no part of the request body arrived for {seconds:g} s",
                                     headers={"Connection": "close"}) from None
            if message["type"] != "http.request" or not message.get("more_body", False):
                body_done = True
            return message

        await self.app(scope, timed_receive, send)


def _has_body(headers: list[tuple[bytes, bytes]]) -> bool:
    """Whether the request announces a body (HTTP/1.1: a non-zero Content-Length, or Transfer-Encoding)."""
    for name, value in headers:
        if name == b"transfer-encoding" or (name == b"content-length" and value.strip() not in (b"0", b"")):
            return True
    return False
