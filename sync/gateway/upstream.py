"""The gateway's HTTP/1.1 client for upstream instances: asyncio protocols, httptools, keep-alive pools.

Why not aiohttp's client: on the benchmark's 2-core machine its request machinery cost about 120 us of
CPU per proxied request, most of the gateway's budget; this client does the same exchange in a few tens
of microseconds. It does only what a reverse proxy needs: one request per connection at a time, the
request head and a small body in one write, a streamed body with chunked encoding, the response's
headers as soon as they are parsed and its body as a stream (reading pauses while the reader lags),
keep-alive reuse, an inactivity timeout (connect, then each read) and a deadline for the whole exchange.

Keep-alive reuse is careful, because a request written to a connection the upstream is closing is lost
and a non-idempotent one may not be sent again (it might have been received). So: ``Connection: close``
(and HTTP/1.0) in a response ends the connection; so does a 500, the answer uvicorn and other servers
give when the application raised, after which they close the connection without announcing it; an idle
connection unused for ``keepalive_timeout`` is not reused; and before a request that may not be replayed
goes on a reused connection, the socket is polled: if the peer already closed it (its FIN or anything else
is waiting unread) the request goes on another connection, which is safe because nothing was sent.

Errors: :class:`UpstreamTimeout` when the instance stays silent for ``read_timeout`` seconds or the
exchange passes its ``deadline``, :class:`UpstreamError` for everything else that breaks the exchange
(refused, reset, malformed).
"""

from __future__ import annotations

import asyncio
import select
import ssl
import time
from collections import deque
from collections.abc import AsyncIterable, AsyncIterator
from urllib.parse import urlsplit

import httptools

from sync.web.flow import WriteFlowControl

Headers = list[tuple[bytes, bytes]]

_HIGH_WATER = 256 * 1024  # response bytes buffered before reading from the upstream pauses
_IDLE_SWEEP = 5.0
_TICK = 0.05  # read timeouts and deadlines are enforced to within this many seconds
_NEVER = float("inf")


class UpstreamError(Exception):
    """The exchange with the upstream failed (connection refused or lost, malformed response)."""


class UpstreamTimeout(UpstreamError, TimeoutError):
    """The upstream did not connect, or sent nothing, within the read timeout."""


class Origin:
    """Where a base URL points: host, port, TLS and the ``Host`` header to send."""

    __slots__ = ("host", "host_header", "key", "port", "tls")

    def __init__(self, base: str) -> None:
        parts = urlsplit(base)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"not an http(s) URL: {base!r}")
        self.tls = parts.scheme == "https"
        self.host = parts.hostname
        self.port = parts.port or (443 if self.tls else 80)
        default = self.port == (443 if self.tls else 80)
        self.host_header = (parts.netloc.rsplit("@", 1)[-1] if not default else self.host).encode("idna")
        self.key = (self.host, self.port, self.tls)


class UpstreamResponse:
    """Status and headers of an upstream answer; the body is read with :meth:`read` or :meth:`chunks`.

    Call :meth:`release` when done (the connection goes back to the pool if the body was read to the
    end) or :meth:`close` to drop the connection.
    """

    __slots__ = ("_conn", "content_length", "headers", "status")

    def __init__(self, conn: _Connection, status: int, headers: Headers, content_length: int | None) -> None:
        self._conn = conn
        self.status = status
        self.headers = headers
        self.content_length = content_length

    async def read(self) -> bytes:
        """The whole body."""
        conn = self._conn
        while not conn.body_done:
            await conn.wait_body()
        return conn.take_body()

    async def chunks(self) -> AsyncIterator[bytes]:
        """The body as it arrives (reading from the upstream pauses while the caller lags)."""
        conn = self._conn
        while True:
            data = conn.take_body()
            if data:
                yield data
            elif conn.body_done:
                return
            else:
                await conn.wait_body()

    def release(self) -> None:
        self._conn.finish()

    def close(self) -> None:
        self._conn.abort()


class _Connection(WriteFlowControl, asyncio.Protocol):
    """One keep-alive connection; at most one exchange at a time."""

    def __init__(self, pool: UpstreamPool, pool_key: tuple[str, int, bool]) -> None:
        self.pool = pool
        self.pool_key = pool_key
        self.loop = pool.loop
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.closed = False
        self.idle_since = 0.0
        self._reset()

    def _reset(self) -> None:
        self.head_future: asyncio.Future[UpstreamResponse] | None = None
        self.headers: Headers = []
        self.close_delimited = False
        self.is_head = False
        self.interim = False
        self.response: UpstreamResponse | None = None
        self.body: deque[bytes] = deque()
        self.body_size = 0
        self.body_done = False
        self.body_waiter: asyncio.Future[None] | None = None
        self.paused = False
        self.error: BaseException | None = None
        self.keep_alive = True
        self.got_bytes = False
        self.timeout = 0.0
        self.last_read = 0.0
        self.deadline = _NEVER
        self.paused_at = 0.0

    # --- asyncio.Protocol -----------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        if self.head_future is None and self.response is None:
            self.abort()  # bytes nobody asked for (an idle connection's "408", garbage): not reusable
            return
        self.got_bytes = True
        self.last_read = time.monotonic()
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as exc:
            if not self.body_done or self.head_future is not None:
                self._fail(UpstreamError(f"malformed response from upstream: {exc}"))
            self.abort()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.pool.forget(self)
        if self.head_future is None and self.response is not None and not self.body_done and self.close_delimited:
            self._complete()  # a body delimited by the end of the connection ends here
            return
        if self.head_future is not None or (self.response is not None and not self.body_done):
            self._fail(UpstreamError(f"upstream closed the connection{': ' + str(exc) if exc else ''}"))
        self.release_drain(UpstreamError("upstream closed the connection"))

    # --- httptools callbacks ----------------------------------------------------------------
    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.append((name, value))

    def on_headers_complete(self) -> None:
        status = self.parser.get_status_code()
        if status < 200:  # 100 Continue, 103 Early Hints: not forwarded, wait for the real answer
            self.interim = True
            self.headers = []
            return
        length: int | None = None
        chunked = False
        for name, value in self.headers:
            lname = name.lower()
            if lname == b"content-length":
                try:
                    length = int(value)
                except ValueError:
                    length = None
            elif lname == b"transfer-encoding":
                chunked = b"chunked" in value.lower()
        # A 500 is what a server sends when its application raised; uvicorn (and others) then close the
        # connection without a "Connection: close", so it must not carry another request.
        self.keep_alive = self.parser.should_keep_alive() and status != 500
        bodyless = self.is_head or status in (204, 304)
        self.close_delimited = not bodyless and length is None and not chunked
        self.response = UpstreamResponse(self, status, self.headers, 0 if bodyless else length)
        future, self.head_future = self.head_future, None
        if future is not None and not future.done():
            future.set_result(self.response)
        if self.is_head:  # no body follows; llhttp cannot be told, so this connection is not reused
            self.keep_alive = False
            self._complete()

    def on_body(self, body: bytes) -> None:
        if self.body_done:
            return
        self.body.append(body)
        self.body_size += len(body)
        self._wake()
        if self.body_size > _HIGH_WATER and not self.paused and self.transport is not None:
            self.paused = True
            self.paused_at = time.monotonic()
            self.transport.pause_reading()

    def on_message_complete(self) -> None:
        if self.interim:
            self.interim = False
            return
        if not self.body_done:
            self._complete()

    # --- used by the response and the pool --------------------------------------------------
    def _complete(self) -> None:
        self.body_done = True
        self._wake()

    def _wake(self) -> None:
        waiter, self.body_waiter = self.body_waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _fail(self, exc: BaseException) -> None:
        self.error = exc
        future, self.head_future = self.head_future, None
        if future is not None and not future.done():
            future.set_exception(exc)
        waiter, self.body_waiter = self.body_waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_exception(exc)

    async def wait_body(self) -> None:
        if self.error is not None:
            raise self.error
        self.body_waiter = self.loop.create_future()
        await self.body_waiter

    def take_body(self) -> bytes:
        if self.error is not None and not self.body_done:
            raise self.error
        if not self.body:
            return b""
        data = self.body[0] if len(self.body) == 1 else b"".join(self.body)
        self.body.clear()
        self.body_size = 0
        if self.paused and self.transport is not None and not self.closed:
            self.paused = False
            now = self.last_read = time.monotonic()  # the silence while paused was ours
            self.deadline += now - self.paused_at  # and so was the time: the deadline bounds the upstream
            self.transport.resume_reading()
        return data

    def finish(self) -> None:
        """The exchange is over: back to the pool if it ended cleanly, else closed."""
        if self.body_done and self.keep_alive and self.error is None and not self.closed and not self.body:
            self._reset()
            self.pool.put(self)
        else:
            self.abort()

    def abort(self) -> None:
        future, self.head_future = self.head_future, None
        if future is not None and not future.done():
            future.cancel()  # nobody will await it any more
        if not self.closed and self.transport is not None:
            self.closed = True
            self.transport.close()
        self.pool.forget(self)

    # --- timeouts (checked by the pool's ticker, not a timer per request) ------------------------
    def waiting(self) -> bool:
        """Is an exchange waiting on the upstream (not on a slow reader)?"""
        return (self.head_future is not None or (self.response is not None and not self.body_done)) \
            and not self.paused and not self.closed

    def time_out(self, now: float) -> None:
        if now >= self.deadline:
            self._fail(UpstreamTimeout("upstream did not complete its response before the request's deadline"))
        else:
            self._fail(UpstreamTimeout(f"upstream sent nothing for {self.timeout:g}s"))
        self.abort()

    async def drain(self) -> None:
        if self.closed:
            raise UpstreamError("upstream closed the connection")
        await super().drain()


class UpstreamPool:
    """Idle keep-alive connections per origin, newest first; closed after ``keepalive_timeout`` unused."""

    def __init__(self, *, keepalive_timeout: float = 30.0, max_idle_per_origin: int = 256) -> None:
        self.keepalive_timeout = keepalive_timeout
        self.max_idle = max_idle_per_origin
        self._idle: dict[tuple[str, int, bool], list[_Connection]] = {}
        self._origins: dict[str, Origin] = {}
        self._busy: set[_Connection] = set()
        self._ssl: ssl.SSLContext | None = None
        self._sweeper: asyncio.TimerHandle | None = None
        self._ticker: asyncio.TimerHandle | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        if self._loop is None:
            self._loop = asyncio.get_running_loop()
        return self._loop

    def origin(self, base: str) -> Origin:
        origin = self._origins.get(base)
        if origin is None:
            origin = self._origins[base] = Origin(base)
        return origin

    async def request(self, base: str, method: str, target: bytes, headers: Headers,
                      body: bytes | AsyncIterable[bytes] | None, *, read_timeout: float,
                      retry_stale: bool = True, deadline: float | None = None) -> UpstreamResponse:
        """Send one request to ``base`` (``scheme://host:port``); return once the response's headers are in.

        ``target`` is the path and query. ``headers`` (lower-case names) must not hold Host or hop-by-hop
        headers; a ``content-length`` among them is kept for a streamed body. :class:`UpstreamTimeout` when
        the instance stays silent for ``read_timeout`` seconds (connecting, then between reads).
        ``retry_stale``: when a reused keep-alive connection turns out to be closed before any response
        byte, resend on a new connection (only for a replayable body). Without it (a request that must not
        be sent twice) a reused connection is first checked to be still open, see the module's doc.
        ``deadline`` (``time.monotonic()`` based): the whole exchange, connecting, the head and the body
        read through the response, must be over by then (time spent paused for a slow reader excepted),
        else :class:`UpstreamTimeout`."""
        origin = self.origin(base)
        replayable = body is None or isinstance(body, bytes)
        may_resend = replayable and retry_stale
        until = _NEVER if deadline is None else deadline
        while True:
            conn = self._idle_connection(origin, check_open=not may_resend)
            reused = conn is not None
            if conn is None:
                left = until - time.monotonic()
                if left <= 0:
                    raise UpstreamTimeout("the request's deadline passed before the upstream was reached")
                conn = await self._connect(origin, min(read_timeout, left))
            conn.deadline = until
            try:
                return await self._exchange(conn, origin, method, target, headers, body, read_timeout)
            except UpstreamError:
                conn.abort()
                if reused and not conn.got_bytes and may_resend:
                    continue
                raise
            except BaseException:
                conn.abort()
                raise

    def _idle_connection(self, origin: Origin, *, check_open: bool) -> _Connection | None:
        """The newest idle connection to ``origin`` that may carry a request. ``check_open``: also poll the
        socket, and pass over one the peer has already closed (or sent anything on) that the event loop
        has not noticed yet."""
        idle = self._idle.get(origin.key)
        if not idle:
            return None
        cutoff = time.monotonic() - self.keepalive_timeout
        while idle:
            conn = idle.pop()
            if conn.closed or conn.transport is None or conn.transport.is_closing():
                continue
            if conn.idle_since < cutoff or (check_open and _has_input(conn.transport)):
                conn.abort()
                continue
            self._busy.add(conn)
            return conn
        return None

    async def _connect(self, origin: Origin, connect_within: float) -> _Connection:
        loop = self.loop
        tls: ssl.SSLContext | None = None
        if origin.tls:
            if self._ssl is None:
                self._ssl = ssl.create_default_context()
            tls = self._ssl
        try:
            async with asyncio.timeout(connect_within):
                _, conn = await loop.create_connection(lambda: _Connection(self, origin.key), origin.host,
                                                       origin.port, ssl=tls)
        except TimeoutError as exc:
            raise UpstreamTimeout(
                f"could not connect to {origin.host}:{origin.port} within {connect_within:g}s") from exc
        except OSError as exc:
            raise UpstreamError(f"could not connect to {origin.host}:{origin.port}: {exc}") from exc
        self._busy.add(conn)
        return conn

    async def _exchange(self, conn: _Connection, origin: Origin, method: str, target: bytes, headers: Headers,
                        body: bytes | AsyncIterable[bytes] | None, read_timeout: float) -> UpstreamResponse:
        conn.is_head = method == "HEAD"
        future: asyncio.Future[UpstreamResponse] = self.loop.create_future()
        conn.head_future = future
        head = [method.encode("ascii"), b" ", target, b" HTTP/1.1\r\nhost: ", origin.host_header, b"\r\n"]
        has_length = False
        for name, value in headers:
            if name == b"content-length":
                has_length = True
            head += (name, b": ", value, b"\r\n")
        transport = conn.transport
        assert transport is not None
        conn.timeout = read_timeout
        conn.last_read = time.monotonic()
        if self._ticker is None:
            self._ticker = self.loop.call_later(_TICK, self._tick)
        if body is None or isinstance(body, bytes):
            if body is not None and not has_length:
                head += (b"content-length: ", str(len(body)).encode(), b"\r\n")
            head.append(b"\r\n")
            if body:
                head.append(body)
            transport.write(b"".join(head))
        else:
            if not has_length:
                head.append(b"transfer-encoding: chunked\r\n")
            head.append(b"\r\n")
            transport.write(b"".join(head))
            async for chunk in body:
                if conn.closed or conn.error is not None:
                    break
                if chunk:
                    transport.write(b"%x\r\n%b\r\n" % (len(chunk), chunk) if not has_length else chunk)
                    await conn.drain()
            if not has_length and not conn.closed:
                transport.write(b"0\r\n\r\n")
        return await future

    def _tick(self) -> None:
        """Time out exchanges whose upstream has been silent for their read timeout."""
        self._ticker = None
        now = time.monotonic()
        for conn in [c for c in self._busy
                     if c.waiting() and (now - c.last_read >= c.timeout or now >= c.deadline)]:
            conn.time_out(now)
        if self._busy:
            self._ticker = self.loop.call_later(_TICK, self._tick)

    def put(self, conn: _Connection) -> None:
        self._busy.discard(conn)
        key = conn.pool_key
        idle = self._idle.setdefault(key, [])
        if len(idle) >= self.max_idle:
            conn.abort()
            return
        conn.idle_since = time.monotonic()
        idle.append(conn)
        if self._sweeper is None:
            self._sweeper = self.loop.call_later(_IDLE_SWEEP, self._sweep)

    def forget(self, conn: _Connection) -> None:
        self._busy.discard(conn)
        idle = self._idle.get(conn.pool_key)
        if idle and conn in idle:
            idle.remove(conn)

    def _sweep(self) -> None:
        self._sweeper = None
        cutoff = time.monotonic() - self.keepalive_timeout
        remaining = 0
        for idle in self._idle.values():
            stale = [c for c in idle if c.idle_since < cutoff]
            for conn in stale:
                idle.remove(conn)
                conn.abort()
            remaining += len(idle)
        if remaining:
            self._sweeper = self.loop.call_later(_IDLE_SWEEP, self._sweep)

    def idle_count(self) -> int:
        return sum(len(v) for v in self._idle.values())

    async def aclose(self) -> None:
        for timer in (self._sweeper, self._ticker):
            if timer is not None:
                timer.cancel()
        self._sweeper = self._ticker = None
        for conn in [c for idle in self._idle.values() for c in idle] + list(self._busy):
            conn.abort()
        self._idle.clear()
        self._busy.clear()
        await asyncio.sleep(0)  # let the transports' close callbacks run


def _has_input(transport: asyncio.Transport) -> bool:
    """Is anything (the peer's FIN, a reset, stray bytes) waiting unread on an idle connection's socket?
    Either way the connection cannot carry a request. One ``poll`` system call, no waiting."""
    sock = transport.get_extra_info("socket")
    try:
        fd = sock.fileno() if sock is not None else -1
        if fd < 0:
            return sock is not None
        poller = select.poll()
        poller.register(fd, select.POLLIN | select.POLLPRI)
        return bool(poller.poll(0))
    except (OSError, ValueError):
        return True


def split_url(url: str) -> tuple[str, bytes]:
    """``http://host:port/path?q`` -> (``http://host:port``, ``b"/path?q"``)."""
    parts = urlsplit(url)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return f"{parts.scheme}://{parts.netloc}", target.encode("latin-1")


__all__ = ["Origin", "UpstreamError", "UpstreamPool", "UpstreamResponse", "UpstreamTimeout", "split_url"]
