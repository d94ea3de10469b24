"""Innermost stage: forward to an instance over the process's upstream connection pool and stream the answer back.

Small request bodies (up to ``REPLAY_LIMIT``) are read first so an idempotent request can be retried;
larger ones are streamed to the upstream and never retried. Responses are streamed in chunks; only a
small one with a known length is sent in one piece. A failed attempt (connection error, timeout,
502/503/504) counts against the instance's breaker; the retry, if allowed, goes to another instance
when one exists, and never to one that timed out.

Deadlines: each attempt must be over (connected, head and body received) within its instance's
``timeout``, and the whole request within ``request_deadline`` (the first instance's ``timeout`` when
not set), counted once the request body is in. Trickling answers count as slow, not as alive. A request
past its deadline before its response started gets a 504; one whose streamed response was already
started is cut off.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import NoReturn

from sync.errors import BadGateway, BadRequest, GatewayTimeout, PayloadTooLarge, UpstreamUnavailable
from sync.gateway.balancer import Instance, Pool
from sync.gateway.clientip import ClientResolver
from sync.gateway.headers import downstream_response_headers, upstream_request_headers
from sync.gateway.health import HealthChecker
from sync.gateway.metrics import GatewayMetrics
from sync.gateway.retry import IDEMPOTENT, RETRY_STATUSES, RetryBudget
from sync.gateway.stages.context import RequestContext
from sync.gateway.types import Headers, Receive, Scope, Send
from sync.gateway.upstream import UpstreamError, UpstreamTimeout
from sync.gateway.upstream_libs import UpstreamAnswer, Upstreams

log = logging.getLogger("sync.gateway.proxy")

REPLAY_LIMIT = 256 * 1024
SMALL_RESPONSE = 64 * 1024


@dataclass(slots=True, eq=False, kw_only=True)
class Proxy:
    """The innermost stage: it answers, so it wraps no further app."""

    upstreams: Upstreams
    max_body: int
    budget: RetryBudget
    metrics: GatewayMetrics
    clients: ClientResolver
    debug: Callable[[], bool]
    request_deadline: float | None = None
    readiness: HealthChecker | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        ctx: RequestContext = scope["gateway"]
        pool = ctx.pool
        assert pool is not None
        method: str = scope["method"]
        headers, dropped = upstream_request_headers(scope["headers"])
        self._add_forwarding(scope, ctx, headers, dropped)
        body, replayable = await self._body(scope, receive, dropped, headers)
        idempotent = method in IDEMPOTENT or any(n == b"idempotency-key" for n, _ in headers)
        query: bytes = scope.get("query_string", b"")
        target = ctx.upstream_path + b"?" + query if query else ctx.upstream_path
        self.budget.deposit()
        tried: list[Instance] = []
        timed_out: list[Instance] = []
        last_error: Exception | None = None
        started = time.monotonic()
        deadline = 0.0
        key = pool.affinity.key(scope["headers"]) if pool.affinity is not None else None  # sticky sessions
        while True:
            inst = pool.pick(tried, key) or (pool.pick(timed_out, key) if tried else None)
            if inst is None and not tried and self.readiness is not None and await self.readiness.check_starting(pool):
                inst = pool.pick((), key)  # an instance still starting has just passed its health check
            if inst is None:
                if last_error is not None:
                    raise last_error
                self._unavailable(ctx, pool)
            tried.append(inst)
            if self.debug():
                log.info("route %s %s -> %s (%s) attempt %d request_id=%s", method, scope["path"], inst.name,
                         inst.base, len(tried), ctx.request_id.decode())
            endpoint = inst.endpoint
            timeout = float(endpoint.timeout)
            if not deadline:
                deadline = started + (self.request_deadline or timeout)
            now = time.monotonic()
            attempt_deadline = min(now + timeout, deadline)
            failure: str | None = None
            resp: UpstreamAnswer | None = None
            try:
                resp = await self.upstreams.request(
                    inst.base, method, target, headers, body.__aiter__() if isinstance(body, _BodyStream) else body,
                    read_timeout=timeout, retry_stale=idempotent, deadline=attempt_deadline)
            except UpstreamTimeout as exc:
                timed_out.append(inst)
                failure, last_error = "timeout", GatewayTimeout(
                    f"{ctx.service} did not answer within {attempt_deadline - now:.3g}s",
                    details={"instance": inst.name})
                last_error.__cause__ = exc
            except (UpstreamError, OSError) as exc:
                if isinstance(body, _BodyStream) and body.too_large:
                    inst.breaker.release()
                    raise PayloadTooLarge(f"request body over {self.max_body} bytes",
                                          details={"max_bytes": self.max_body}) from exc
                failure, last_error = "connect", BadGateway(
                    f"{ctx.service} could not be reached", details={"instance": inst.name})
                last_error.__cause__ = exc
            except BaseException:
                inst.breaker.release()
                raise
            if resp is not None and resp.status in RETRY_STATUSES:
                failure = f"status_{resp.status}"
            if failure is None:
                assert resp is not None
                inst.breaker.record_success()
                await self._relay(resp, ctx, send, inst.name)
                return
            if inst.starting:  # never passed a health check: not ready, which is not the breaker's business
                inst.breaker.release()
                inst.not_ready(f"request failed before any health check passed: {failure}")
            else:
                inst.breaker.record_failure()
            self.metrics.upstream_failures[(inst.name, failure)] += 1
            retry = (idempotent and replayable and len(tried) <= endpoint.retry_count
                     and time.monotonic() < deadline)
            if retry and not self.budget.withdraw():
                self.metrics.retry_budget_exhausted[ctx.service] += 1
                retry = False
            if self.debug():
                log.info("attempt on %s failed (%s); %s", inst.name, failure, "retrying" if retry else "giving up")
            if not retry:
                if resp is not None:
                    await self._relay(resp, ctx, send, inst.name)
                    return
                assert last_error is not None
                raise last_error
            self.metrics.retries[ctx.service] += 1
            if resp is not None:
                resp.close()

    def _unavailable(self, ctx: RequestContext, pool: Pool) -> NoReturn:
        starting = [i.name for i in pool.instances if i.starting and not i.healthy]
        if starting and self.readiness is not None:
            ready_in = max(1, int(self.readiness.not_ready_interval + 0.999))
            raise UpstreamUnavailable(f"{ctx.service} is starting: no instance has passed a health check yet",
                                      headers={"Retry-After": str(ready_in)},
                                      details={"service": ctx.service, "starting": starting})
        wait = pool.retry_after()
        raise UpstreamUnavailable(f"no healthy instance of {ctx.service!r} can take requests",
                                  headers={"Retry-After": str(max(1, int(wait + 0.999)))},
                                  details={"service": ctx.service})

    def _add_forwarding(self, scope: Scope, ctx: RequestContext, headers: Headers, dropped: dict[bytes, bytes]) -> None:
        """X-Forwarded-*: a client-sent X-Forwarded-For is kept only when the peer is a trusted proxy."""
        client = scope.get("client")
        peer = client[0] if client else "unknown"
        forwarded = dropped.get(b"x-forwarded-for")
        if forwarded and self.clients.peer_is_trusted(scope):
            headers.append((b"x-forwarded-for", forwarded + b", " + peer.encode("latin-1")))
        else:
            headers.append((b"x-forwarded-for", peer.encode("latin-1")))
        headers.append((b"x-forwarded-proto", b"https" if scope.get("scheme") == "https" else b"http"))
        host = dropped.get(b"host")
        if host:
            headers.append((b"x-forwarded-host", host))
        headers.append((b"x-request-id", ctx.request_id))

    async def _body(self, scope: Scope, receive: Receive, dropped: dict[bytes, bytes],
                    headers: Headers) -> tuple[bytes | _BodyStream | None, bool]:
        """The body to send: bytes when it fits in REPLAY_LIMIT (so it can be retried), else a stream."""
        length_raw = dropped.get(b"content-length")
        chunked = b"transfer-encoding" in dropped
        if length_raw is None and not chunked:
            return None, True
        length = -1
        if length_raw is not None:
            try:
                length = int(length_raw)
            except ValueError as exc:
                raise BadRequest("Content-Length is not a number", details={"field": "content-length"}) from exc
            if length > self.max_body:
                raise PayloadTooLarge(f"request body over {self.max_body} bytes", details={"max_bytes": self.max_body})
            if length == 0:
                return b"", True
        parts: list[bytes] = []
        size = 0
        more = True
        while more and size <= REPLAY_LIMIT:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise asyncio.CancelledError
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body:
                raise PayloadTooLarge(f"request body over {self.max_body} bytes", details={"max_bytes": self.max_body})
            parts.append(chunk)
            more = message.get("more_body", False)
        if not more:
            return b"".join(parts), True
        if length > 0:
            headers.append((b"content-length", str(length).encode()))
        return _BodyStream(b"".join(parts), size, receive, self.max_body), False

    async def _relay(self, resp: UpstreamAnswer, ctx: RequestContext, send: Send, instance: str) -> None:
        """Stream the upstream answer to the client; close the upstream connection if that fails."""
        try:
            headers = downstream_response_headers(resp.headers)
            headers.extend(ctx.response_headers)
            length = resp.content_length
            if length is not None and length <= SMALL_RESPONSE:
                try:
                    body = await resp.read()
                except UpstreamTimeout as exc:  # trickled past the deadline before we answered: a 504
                    raise GatewayTimeout(f"{ctx.service} did not complete its response in time",
                                         details={"instance": instance}) from exc
                except UpstreamError as exc:  # died before we answered: still a 502
                    raise BadGateway(f"{ctx.service} broke off its response",
                                      details={"service": ctx.service}) from exc
                ctx.status = resp.status  # from here on an error cannot become an error response
                await send({"type": "http.response.start", "status": resp.status, "headers": headers})
                await send({"type": "http.response.body", "body": body})
            else:
                ctx.status = resp.status
                await send({"type": "http.response.start", "status": resp.status, "headers": headers})
                try:
                    async for chunk in resp.chunks():
                        await send({"type": "http.response.body", "body": chunk, "more_body": True})
                except UpstreamTimeout as exc:  # the client gets a cut-off response; the log says why
                    raise GatewayTimeout(f"{ctx.service} did not complete its response in time",
                                         details={"instance": instance}) from exc
                except UpstreamError as exc:
                    raise BadGateway(f"{ctx.service} broke off its response", details={"service": ctx.service}) from exc
                await send({"type": "http.response.body", "body": b""})
        except BaseException:
            resp.close()
            raise
        resp.release()


class _BodyStream:
    """A request body too large to buffer: the part already read, then the rest as it arrives."""

    def __init__(self, head: bytes, size: int, receive: Receive, max_body: int) -> None:
        self.head = head
        self.size = size
        self.receive = receive
        self.max_body = max_body
        self.too_large = False

    async def __aiter__(self) -> AsyncIterator[bytes]:
        if self.head:
            yield self.head
        while True:
            message = await self.receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            self.size += len(chunk)
            if self.size > self.max_body:
                self.too_large = True
                raise PayloadTooLarge(f"request body over {self.max_body} bytes")
            if chunk:
                yield chunk
            if not message.get("more_body", False):
                return
