"""The gateway's own routes go to the admin app; ``/{service}/{path}`` of a registered
service goes down the chain; anything else is a 404 before auth or limits spend anything on it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from sync.errors import NotFound
from sync.gateway.balancer import Pool
from sync.gateway.paths import split_target
from sync.gateway.registry import RESERVED
from sync.gateway.stages.context import RequestContext
from sync.gateway.types import ASGIApp, Message, Receive, Scope, Send

_RESERVED_BYTES = frozenset(name.encode() for name in RESERVED)


@dataclass(slots=True, eq=False)
class Router:
    app: ASGIApp  # the rest of the chain, for proxied requests
    admin: ASGIApp
    lookup: Callable[[str], Pool | None]  # this process's registry
    lookup_missing: Callable[[str], Awaitable[Pool | None]]  # asks the shared registry (Redis), only on a miss

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        raw: bytes = scope.get("raw_path") or scope["path"].encode()  # raw_path never holds the query
        first = raw[1:].split(b"/", 1)[0]
        ctx: RequestContext = scope["gateway"]
        if first in _RESERVED_BYTES:
            extra = ctx.response_headers

            async def tag(message: Message) -> None:
                if message["type"] == "http.response.start":
                    message["headers"] = [*message.get("headers", ()), *extra]
                    ctx.status = message["status"]
                await send(message)

            await self.admin(scope, receive, tag)
            return
        service, upstream_path = split_target(raw)
        pool = self.lookup(service)
        if pool is None:
            pool = await self.lookup_missing(service)
        if pool is None or not pool.instances:
            raise NotFound(f"no service named {service!r} is registered", details={"service": service})
        ctx.pool = pool
        ctx.service = service
        ctx.upstream_path = upstream_path
        ctx.path = upstream_path[1:].decode("latin-1")
        await self.app(scope, receive, send)
