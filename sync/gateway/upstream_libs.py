"""The upstream client's interface on well-kept libraries, measured against :mod:`sync.gateway.upstream`.

``GATEWAY_UPSTREAM_CLIENT`` picks the pool the gateway proxies and health-checks through: ``builtin``
(the hand-written :class:`~sync.gateway.upstream.UpstreamPool`), ``aiohttp`` or ``pyreqwest`` (reqwest/
hyper in Rust, driven from asyncio). Both library pools here implement what the proxy stage uses of the
built-in one: ``request(...)`` returning once the response head is in, the body read whole or streamed,
request bodies streamed, an inactivity timeout and a deadline for the whole exchange, keep-alive reuse;
``UpstreamTimeout``/``UpstreamError`` for failures. So ``bench/gateway.py`` measures the gateway as it
would ship with each. Why pyreqwest of the Rust-backed clients on PyPI: it is asyncio-native (no
thread per request), streams request and response bodies, pools connections with an idle timeout,
takes a timeout per request and ships type stubs; rnet and primp centre on browser impersonation, httpr
has no streamed request body. docs/gateway.md ("Protocol code: measured against libraries") has the
figures and the decision.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterable, AsyncIterator
from datetime import timedelta
from typing import Literal, Protocol

from sync.gateway.upstream import Headers, UpstreamError, UpstreamPool, UpstreamTimeout

UpstreamClient = Literal["builtin", "aiohttp", "pyreqwest"]


class UpstreamAnswer(Protocol):
    """What the proxy stage and the health checker use of an upstream answer."""

    status: int
    headers: Headers
    content_length: int | None

    async def read(self) -> bytes: ...

    def chunks(self) -> AsyncIterator[bytes]: ...

    def release(self) -> None: ...

    def close(self) -> None: ...


class Upstreams(Protocol):
    """What the proxy stage and the health checker use of an upstream pool."""

    async def request(self, base: str, method: str, target: bytes, headers: Headers,
                      body: bytes | AsyncIterable[bytes] | None, *, read_timeout: float,
                      retry_stale: bool = True, deadline: float | None = None) -> UpstreamAnswer: ...

    async def aclose(self) -> None: ...


def make_pool(client: UpstreamClient) -> Upstreams:
    """The upstream pool ``GATEWAY_UPSTREAM_CLIENT`` names."""
    if client == "aiohttp":
        return AiohttpPool()
    if client == "pyreqwest":
        return ReqwestPool()
    return UpstreamPool()


def _left(deadline: float | None, read_timeout: float) -> float:
    left = read_timeout if deadline is None else min(read_timeout, deadline - time.monotonic())
    if left <= 0:
        raise UpstreamTimeout("the request's deadline passed before the upstream was reached")
    return left


def _length(headers: Headers) -> int | None:
    for name, value in headers:
        if name.lower() == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


# --- aiohttp ---------------------------------------------------------------------------------------------
class _AiohttpResponse:
    __slots__ = ("_resp", "content_length", "headers", "status")

    def __init__(self, resp: object) -> None:
        import aiohttp

        assert isinstance(resp, aiohttp.ClientResponse)
        self._resp = resp
        self.status = resp.status
        self.headers: Headers = list(resp.raw_headers)
        self.content_length = 0 if resp.method == "HEAD" or resp.status in (204, 304) else _length(self.headers)

    async def read(self) -> bytes:
        try:
            return await self._resp.read()
        except Exception as exc:
            raise _aiohttp_error(exc) from exc

    async def chunks(self) -> AsyncIterator[bytes]:
        try:
            async for chunk in self._resp.content.iter_any():
                yield chunk
        except Exception as exc:
            raise _aiohttp_error(exc) from exc

    def release(self) -> None:
        self._resp.release()

    def close(self) -> None:
        self._resp.close()


def _aiohttp_error(exc: BaseException) -> UpstreamError:
    if isinstance(exc, TimeoutError):  # aiohttp's ServerTimeoutError and the total timeout are TimeoutErrors
        return UpstreamTimeout(f"upstream timed out: {exc or type(exc).__name__}")
    return UpstreamError(f"upstream exchange failed: {exc or type(exc).__name__}")


class AiohttpPool:
    """One ``aiohttp.ClientSession`` (its connector keeps the keep-alive connections)."""

    def __init__(self, *, keepalive_timeout: float = 30.0) -> None:
        self.keepalive_timeout = keepalive_timeout
        self._session: object | None = None

    def _get_session(self) -> object:
        import aiohttp

        if self._session is None:
            connector = aiohttp.TCPConnector(limit=0, keepalive_timeout=self.keepalive_timeout, ttl_dns_cache=None)
            self._session = aiohttp.ClientSession(connector=connector, auto_decompress=False,
                                                  skip_auto_headers=("User-Agent", "Accept", "Accept-Encoding"),
                                                  cookie_jar=aiohttp.DummyCookieJar())
        return self._session

    async def request(self, base: str, method: str, target: bytes, headers: Headers,
                      body: bytes | AsyncIterable[bytes] | None, *, read_timeout: float,
                      retry_stale: bool = True, deadline: float | None = None) -> UpstreamAnswer:
        import aiohttp
        from multidict import CIMultiDict
        from yarl import URL

        session = self._get_session()
        assert isinstance(session, aiohttp.ClientSession)
        total = _left(deadline, float("inf")) if deadline is not None else None
        timeout = aiohttp.ClientTimeout(total=total, sock_connect=read_timeout, sock_read=read_timeout)
        sent = CIMultiDict((name.decode("latin-1"), value.decode("latin-1")) for name, value in headers)
        try:
            resp = await session.request(method, URL(base + target.decode("latin-1"), encoded=True), headers=sent,
                                         data=body, timeout=timeout, allow_redirects=False, compress=None)
        except Exception as exc:
            raise _aiohttp_error(exc) from exc
        return _AiohttpResponse(resp)

    async def aclose(self) -> None:
        import aiohttp

        session, self._session = self._session, None
        if isinstance(session, aiohttp.ClientSession):
            await session.close()


# --- pyreqwest ---------------------------------------------------------------------------------------------
_closing: set[asyncio.Task[None]] = set()  # streamed requests being exited after release/close


class _ReqwestResponse:
    __slots__ = ("_reader", "_stream", "content_length", "headers", "status")

    def __init__(self, stream: object, resp: object, method: str) -> None:
        from pyreqwest.response import Response as PyResponse

        assert isinstance(resp, PyResponse)
        self._stream = stream
        self._reader = resp.body_reader
        self.status = resp.status
        self.headers: Headers = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in resp.headers.items()]
        self.content_length = 0 if method == "HEAD" or self.status in (204, 304) else _length(self.headers)

    async def read(self) -> bytes:
        try:
            return bytes(await self._reader.bytes())
        except Exception as exc:
            raise _reqwest_error(exc) from exc

    async def chunks(self) -> AsyncIterator[bytes]:
        while True:
            try:
                chunk = await self._reader.read_chunk()
            except Exception as exc:
                raise _reqwest_error(exc) from exc
            if chunk is None:
                return
            yield bytes(chunk)

    def release(self) -> None:
        self._finish()

    def close(self) -> None:
        self._finish()

    def _finish(self) -> None:
        stream, self._stream = self._stream, None
        if stream is not None:  # the streamed request's exit hands the connection back (or drops it)
            from pyreqwest.request import StreamRequest

            assert isinstance(stream, StreamRequest)
            task = asyncio.get_running_loop().create_task(stream.__aexit__(None, None, None))
            _closing.add(task)  # the loop keeps only a weak reference to a task
            task.add_done_callback(_closing.discard)


def _reqwest_error(exc: BaseException) -> UpstreamError:
    from pyreqwest.exceptions import RequestTimeoutError

    if isinstance(exc, RequestTimeoutError | TimeoutError):
        return UpstreamTimeout(f"upstream timed out: {exc}")
    return UpstreamError(f"upstream exchange failed: {exc}")


class ReqwestPool:
    """One ``pyreqwest.client.Client`` (reqwest's pool keeps the keep-alive connections)."""

    def __init__(self, *, keepalive_timeout: float = 30.0) -> None:
        self.keepalive_timeout = keepalive_timeout
        self._client: object | None = None

    def _get_client(self) -> object:
        from pyreqwest.client import ClientBuilder

        if self._client is None:
            self._client = (ClientBuilder().gzip(False).brotli(False).zstd(False).deflate(False)
                            .follow_redirects(False).referer(False).http1_lower_case_headers()
                            .pool_idle_timeout(timedelta(seconds=self.keepalive_timeout)).build())
        return self._client

    async def request(self, base: str, method: str, target: bytes, headers: Headers,
                      body: bytes | AsyncIterable[bytes] | None, *, read_timeout: float,
                      retry_stale: bool = True, deadline: float | None = None) -> UpstreamAnswer:
        from pyreqwest.client import Client

        client = self._get_client()
        assert isinstance(client, Client)
        builder = client.request(method, base + target.decode("latin-1"))
        builder.headers([(name.decode("latin-1"), value.decode("latin-1")) for name, value in headers])
        builder.timeout(timedelta(seconds=_left(deadline, read_timeout)))
        if isinstance(body, bytes):
            builder.body_bytes(body)
        elif body is not None:
            builder.body_stream(body)
        stream = builder.build_streamed()
        try:
            resp = await stream.__aenter__()
        except Exception as exc:
            raise _reqwest_error(exc) from exc
        return _ReqwestResponse(stream, resp, method)

    async def aclose(self) -> None:
        from pyreqwest.client import Client

        client, self._client = self._client, None
        if isinstance(client, Client):
            await client.close()
