"""Circuit-breaker fallbacks: the last good answer to an idempotent request, when no instance can serve.

Off by default. A service's fallback is on when its maximum age is above zero: ``GATEWAY_FALLBACK_MAX_AGE``
for every service, or per service with ``PUT /services/{name}/policy {"fallback_max_age": 30}``. Then
the last 2xx answer to each GET or HEAD is kept, keyed by method, path and query (and the JWT subject
when a token was verified, so one user's answer never serves another; answers marked
``Cache-Control: no-store`` or ``private`` without a subject are never kept). When the request cannot be
served (no instance is healthy or admitted by its breaker: 503; every attempt failed: 502/504; or the
last attempt answered 502/503/504), a kept answer not older than the maximum age is sent instead,
marked ``X-Gateway-Fallback: stale; age=N`` and ``Age: N``. Nothing else is ever answered from it:
not a POST, not an older answer, not a request that an instance can serve.

Memory is bounded by entries and bytes (least recently stored goes first); a response larger than
``MAX_ENTRY_BYTES`` is not kept.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from sync.errors import SyncError
from sync.gateway.registry import Registry
from sync.gateway.stages.context import RequestContext
from sync.gateway.types import ASGIApp, Headers, Message, Receive, Scope, Send

log = logging.getLogger("sync.gateway.fallback")

MAX_ENTRY_BYTES = 1024 * 1024
_OVERHEAD = 200  # per entry: key, tuple, dict slot (an estimate, so many tiny entries still count)
_UNAVAILABLE = frozenset({502, 503, 504})
_SKIP_HEADERS = frozenset({b"age", b"x-gateway-fallback", b"date", b"server", b"content-length"})


@dataclass(slots=True)
class Entry:
    status: int
    headers: Headers
    body: bytes
    stored: float
    size: int


class FallbackCache:
    """Last good answers, bounded by ``max_entries`` and ``max_bytes``."""

    def __init__(self, max_entries: int, max_bytes: int, clock: Callable[[], float]) -> None:
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self.entry_limit = min(MAX_ENTRY_BYTES, max_bytes)
        self.clock = clock
        self.entries: OrderedDict[bytes, Entry] = OrderedDict()
        self.bytes = 0
        self.served = 0

    def put(self, key: bytes, status: int, headers: Headers, body: bytes) -> None:
        size = len(key) + len(body) + sum(len(n) + len(v) for n, v in headers) + _OVERHEAD
        if size > self.entry_limit:
            self.discard(key)
            return
        self.discard(key)
        self.entries[key] = Entry(status, headers, body, self.clock(), size)
        self.bytes += size
        while self.entries and (len(self.entries) > self.max_entries or self.bytes > self.max_bytes):
            _, old = self.entries.popitem(last=False)
            self.bytes -= old.size

    def discard(self, key: bytes) -> None:
        old = self.entries.pop(key, None)
        if old is not None:
            self.bytes -= old.size

    def get(self, key: bytes, max_age: float) -> tuple[Entry, float] | None:
        entry = self.entries.get(key)
        if entry is None:
            return None
        age = self.clock() - entry.stored
        if age > max_age:
            return None
        return entry, age


def request_key(scope: Scope, ctx: RequestContext) -> bytes:
    subject = ctx.principal.subject.encode() if ctx.principal is not None else b""
    return b"\x00".join((scope["method"].encode(), ctx.service.encode(), scope["path"].encode("utf-8", "replace"),
                         scope.get("query_string", b""), subject))


@dataclass(slots=True, eq=False)
class Fallback:
    """Stage around the proxy: keeps good answers and serves one when the proxy cannot."""

    app: ASGIApp
    cache: FallbackCache
    registry: Registry
    default_max_age: float  # GATEWAY_FALLBACK_MAX_AGE; a service's policy may set its own

    def max_age(self, service: str) -> float:
        policy = self.registry.policies.get(service)
        if policy is not None and policy.fallback_max_age is not None:
            return policy.fallback_max_age
        return self.default_max_age

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        ctx: RequestContext = scope["gateway"]
        if scope["method"] not in ("GET", "HEAD") or (not self.registry.policies and self.default_max_age <= 0):
            await self.app(scope, receive, send)
            return
        max_age = self.max_age(ctx.service)
        if max_age <= 0:
            await self.app(scope, receive, send)
            return
        key = request_key(scope, ctx)
        own = {name for name, _ in ctx.response_headers}  # this request's own headers (request id, limits)
        held: list[Message] = []  # a 502/503/504 answer, held back while a fallback may replace it
        body: list[bytes] = []
        state = {"status": 0, "size": 0, "keep": False, "hold": False}
        start_headers: Headers = []

        async def capture(message: Message) -> None:
            nonlocal start_headers
            if message["type"] == "http.response.start":
                status = message["status"]
                state["status"] = status
                if status in _UNAVAILABLE and self.cache.get(key, max_age) is not None:
                    state["hold"] = True
                    held.append(message)
                    return
                start_headers = list(message.get("headers", ()))
                state["keep"] = 200 <= status < 300 and _storable(start_headers, ctx)
            elif message["type"] == "http.response.body":
                if state["hold"]:
                    return
                if state["keep"]:
                    chunk = message.get("body", b"")
                    state["size"] += len(chunk)
                    if state["size"] > self.cache.entry_limit:
                        state["keep"] = False
                        body.clear()
                    else:
                        body.append(chunk)
                    if not message.get("more_body", False) and state["keep"]:
                        headers = [(n, v) for n, v in start_headers if n not in own and n not in _SKIP_HEADERS]
                        self.cache.put(key, state["status"], headers, b"".join(body))
            await send(message)

        try:
            await self.app(scope, receive, capture)
        except SyncError as exc:
            if ctx.status or exc.status not in _UNAVAILABLE:
                raise
            if not await self._serve(key, max_age, ctx, send, scope["method"]):
                raise
            return
        if state["hold"]:
            ctx.status = 0
            if not await self._serve(key, max_age, ctx, send, scope["method"]):  # aged out meanwhile: the 5xx
                ctx.status = held[0]["status"]
                await send(held[0])
                await send({"type": "http.response.body", "body": b""})

    async def _serve(self, key: bytes, max_age: float, ctx: RequestContext, send: Send, method: str) -> bool:
        found = self.cache.get(key, max_age)
        if found is None:
            return False
        entry, age = found
        seconds = str(int(age)).encode()
        headers = [*entry.headers, *ctx.response_headers, (b"age", seconds),
                   (b"x-gateway-fallback", b"stale; age=" + seconds),
                   (b"content-length", str(len(entry.body)).encode())]
        self.cache.served += 1
        log.info("fallback: %s %s answered from an answer %ss old (no instance of %s could serve)",
                 method, ctx.path, seconds.decode(), ctx.service)
        ctx.status = entry.status
        await send({"type": "http.response.start", "status": entry.status, "headers": headers})
        await send({"type": "http.response.body", "body": b"" if method == "HEAD" else entry.body})
        return True


def _storable(headers: Headers, ctx: RequestContext) -> bool:
    for name, value in headers:
        if name.lower() == b"cache-control":
            lowered = value.lower()
            if b"no-store" in lowered or (b"private" in lowered and ctx.principal is None):
                return False
    return True
