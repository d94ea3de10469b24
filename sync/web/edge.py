"""A lean HTTP/1.1 ASGI server for the gateway's edge (uvloop + httptools, no websockets).

Why not uvicorn there: measured on the 2-core benchmark machine, uvicorn spends about 30 us of CPU per
request, writes each response's head and body in two system calls and checks every response header
against two regular expressions; at the gateway's rates that is a third of its budget. This server
writes a response's head together with its first body part, keeps the ASGI contract the gateway and
its admin app use (http scope, streamed request and response bodies, ``http.disconnect``, lifespan),
and no more. The services behind the gateway stay on uvicorn.

HTTP/1.1 behaviour: keep-alive (closed after ``keepalive_timeout`` idle seconds), pipelined requests
answered in order, ``Expect: 100-continue``, chunked bodies both ways, HEAD answered without a body,
``Connection: close`` and HTTP/1.0 honoured. A malformed request gets a 400, a request head over
``max_head_bytes`` a 431, an upgrade request a 501, a request head still incomplete after
``head_timeout`` seconds (or a body silent that long while the application waits for it) a 408, so slow
clients cannot hold connections; each then closes the connection. Request bodies are read as the
application asks for them (reading from the socket pauses while it lags).
"""

from __future__ import annotations

import asyncio
import logging
import signal
import time
from collections import deque
from email.utils import formatdate
from http import HTTPStatus
from typing import Any
from urllib.parse import unquote

import httptools

from sync.web.flow import WriteFlowControl

log = logging.getLogger("sync.web.edge")

_BODY_HIGH_WATER = 256 * 1024
_REASONS = {s.value: s.phrase.encode() for s in HTTPStatus}
_NO_BODY_STATUS = frozenset({204, 304})
_DISCONNECT = {"type": "http.disconnect"}


class _Clock:
    """The ``Date`` header, formatted once per second."""

    def __init__(self) -> None:
        self.second = 0
        self.header = b""

    def date(self) -> bytes:
        now = int(time.time())
        if now != self.second:
            self.second = now
            self.header = b"date: " + formatdate(now, usegmt=True).encode() + b"\r\n"
        return self.header


class _Cycle:
    """One request and its response."""

    __slots__ = ("body", "body_done", "body_size", "chunked", "conn", "disconnected", "expect_continue",
                 "final_sent", "is_head", "keep_alive", "no_body", "pending_start", "response_done", "scope",
                 "started", "waiter")

    def __init__(self, conn: _Connection, scope: dict[str, Any], keep_alive: bool, expect_continue: bool) -> None:
        self.conn = conn
        self.scope = scope
        self.keep_alive = keep_alive
        self.expect_continue = expect_continue
        self.is_head = scope["method"] == "HEAD"
        self.body: deque[bytes] = deque()
        self.body_size = 0
        self.body_done = False
        self.disconnected = False
        self.started = False
        self.chunked = False
        self.response_done = False
        self.final_sent = False
        self.no_body = False
        self.pending_start: dict[str, Any] | None = None
        self.waiter: asyncio.Future[None] | None = None

    def wake(self) -> None:
        waiter, self.waiter = self.waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    # --- the ASGI callables -------------------------------------------------------------------
    async def receive(self) -> dict[str, Any]:
        while True:
            if self.disconnected:
                return _DISCONNECT
            if self.body:
                data = self.body[0] if len(self.body) == 1 else b"".join(self.body)
                self.body.clear()
                self.conn.body_taken(self)
                self.final_sent = self.body_done
                return {"type": "http.request", "body": data, "more_body": not self.body_done}
            if self.body_done:
                if not self.final_sent:
                    self.final_sent = True
                    return {"type": "http.request", "body": b"", "more_body": False}
                if self.response_done:
                    return _DISCONNECT
            elif self.expect_continue and not self.started:
                self.expect_continue = False
                self.conn.write(b"HTTP/1.1 100 Continue\r\n\r\n")
            self.waiter = self.conn.loop.create_future()
            await self.waiter

    async def send(self, message: dict[str, Any]) -> None:
        if self.disconnected or self.response_done:
            return
        kind = message["type"]
        conn = self.conn
        if kind == "http.response.start":
            if self.started or self.pending_start is not None:
                raise RuntimeError("http.response.start sent twice")
            self.pending_start = message
            return
        if kind != "http.response.body":
            raise RuntimeError(f"unexpected ASGI message {kind!r}")
        body: bytes = message.get("body", b"")
        more: bool = message.get("more_body", False)
        out: list[bytes] = []
        if not self.started:
            start = self.pending_start
            if start is None:
                raise RuntimeError("http.response.body before http.response.start")
            out.append(self._head(start, body, more))  # may refuse a header: nothing is sent then
            self.pending_start = None
            self.started = True
        if self.is_head or self.no_body:
            body = b""
        if self.chunked:
            if body:
                out.append(b"%x\r\n%b\r\n" % (len(body), body))
            if not more:
                out.append(b"0\r\n\r\n")
        elif body:
            out.append(body)
        if out:
            conn.write(out[0] if len(out) == 1 else b"".join(out))
        if not more:
            self.response_done = True
            self.wake()
            conn.response_complete(self)
        elif conn.write_paused:
            await conn.drain()

    def _head(self, start: dict[str, Any], body: bytes, more: bool) -> bytes:
        status = int(start["status"])
        self.no_body = no_body = status in _NO_BODY_STATUS or status < 200
        parts = [b"HTTP/1.1 %d %b\r\n" % (status, _REASONS.get(status, b"")), self.conn.server.clock.date()]
        has_length = False
        for name, value in start.get("headers", ()):
            lname = name.lower()
            if lname == b"content-length":
                has_length = True
            elif lname == b"connection":
                if value.lower() == b"close":
                    self.keep_alive = False
                continue
            elif lname == b"transfer-encoding":
                continue  # framing is this server's business
            parts += (name, b": ", value, b"\r\n")
        extra: list[bytes] = []
        if not has_length and not no_body:
            if not more:
                extra.append(b"content-length: %d\r\n" % len(body))
            elif self.scope["http_version"] == "1.1":
                self.chunked = not self.is_head
                if self.chunked:
                    extra.append(b"transfer-encoding: chunked\r\n")
            else:
                self.keep_alive = False  # HTTP/1.0 without a length: the body ends with the connection
        if not self.keep_alive:
            extra.append(b"connection: close\r\n")
        elif self.scope["http_version"] == "1.0":  # an HTTP/1.0 client closes unless told otherwise
            extra.append(b"connection: keep-alive\r\n")
        # status line, date, one line per header, the extra lines, the blank line: no other line break may
        # appear (a CR or LF inside a header would split the response), checked with two counts
        lines = 2 + (len(parts) - 2) // 4 + len(extra) + 1
        parts += extra
        parts.append(b"\r\n")
        head = b"".join(parts)
        if head.count(b"\n") != lines or head.count(b"\r") != lines:
            raise RuntimeError("a response header holds a line break")
        return head

    async def run(self, app: Any) -> None:
        try:
            await app(self.scope, self.receive, self.send)
        except BaseException as exc:
            if isinstance(exc, asyncio.CancelledError) and self.disconnected:
                pass
            elif not self.started and not self.disconnected:
                log.exception("unhandled error in the application")
                self.pending_start = None
                self.keep_alive = False
                await self.send({"type": "http.response.start", "status": 500,
                                 "headers": [(b"content-type", b"text/plain; charset=utf-8")]})
                await self.send({"type": "http.response.body", "body": b"Internal Server Error"})
            else:
                log.exception("unhandled error in the application after the response started")
            if isinstance(exc, (KeyboardInterrupt, SystemExit)):
                raise
        finally:
            if not self.response_done and not self.disconnected:
                if not self.started:
                    log.error("the application returned without a response")
                    self.pending_start = None
                    self.keep_alive = False
                    await self.send({"type": "http.response.start", "status": 500, "headers": []})
                    await self.send({"type": "http.response.body", "body": b""})
                else:  # a cut-off response: the client must see the connection end
                    self.conn.close()
            self.conn.cycle_finished(self)


class _Connection(WriteFlowControl, asyncio.Protocol):
    """One client connection; requests are answered one after another."""

    def __init__(self, server: EdgeServer) -> None:
        self.server = server
        self.app = server.app
        self.loop = server.loop
        self.parser = httptools.HttpRequestParser(self)
        self.transport: asyncio.Transport | None = None
        self.client: tuple[str, int] | None = None
        self.sockname: tuple[str, int] | None = None
        self.parsing: _Cycle | None = None
        self.active: _Cycle | None = None
        self.queue: deque[_Cycle] = deque()
        self.read_paused = False
        self.closed = False
        self.last_active = time.monotonic()
        self.head_started = 0.0  # when the request head now being read began (0: none)
        self.url = b""
        self.headers: list[tuple[bytes, bytes]] = []
        self.head_size = 0
        self.expect = False

    # --- asyncio.Protocol -------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        peer = transport.get_extra_info("peername")
        sock = transport.get_extra_info("sockname")
        self.client = (str(peer[0]), int(peer[1])) if isinstance(peer, tuple) else None
        self.sockname = (str(sock[0]), int(sock[1])) if isinstance(sock, tuple) else None
        self.server.connections.add(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.server.connections.discard(self)
        for cycle in (self.active, self.parsing, *self.queue):
            if cycle is not None:
                cycle.disconnected = True
                cycle.wake()
        self.release_drain(None)

    def data_received(self, data: bytes) -> None:
        self.last_active = time.monotonic()
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._refuse(501, b"upgrades (websockets) are not supported here")
        except httptools.HttpParserError as exc:  # raised from a callback, _HeadTooLarge arrives wrapped
            if self.head_size > self.server.max_head_bytes:
                self._refuse(431, b"request head too large")
            else:
                self._refuse(400, f"malformed HTTP request: {exc}".encode())

    # --- httptools callbacks ------------------------------------------------------------------
    def on_message_begin(self) -> None:
        self.head_started = time.monotonic()
        self.url = b""
        self.headers = []
        self.head_size = 0
        self.expect = False

    def on_url(self, url: bytes) -> None:
        self.url += url
        self.head_size += len(url)
        if self.head_size > self.server.max_head_bytes:
            raise _HeadTooLarge

    def on_header(self, name: bytes, value: bytes) -> None:
        self.head_size += len(name) + len(value)
        if self.head_size > self.server.max_head_bytes:
            raise _HeadTooLarge
        name = name.lower()
        if name == b"expect" and value.lower() == b"100-continue":
            self.expect = True
        self.headers.append((name, value))

    def on_headers_complete(self) -> None:
        self.head_started = 0.0
        parser = self.parser
        url = self.url
        query = b""
        if b"?" in url:
            url, query = url.split(b"?", 1)
        if b"#" in query:
            query = query.split(b"#", 1)[0]
        if not url.startswith(b"/"):  # absolute-form target: keep the path only
            url = httptools.parse_url(url).path or b"/"
        text = url.decode("latin-1")
        scope = {
            "type": "http", "asgi": {"version": "3.0", "spec_version": "2.3"},
            "http_version": parser.get_http_version(), "server": self.sockname, "client": self.client,
            "scheme": "http", "method": parser.get_method().decode("ascii"), "root_path": "",
            "path": unquote(text) if "%" in text else text, "raw_path": url, "query_string": query,
            "headers": self.headers, "state": self.server.state.copy(),
        }
        cycle = _Cycle(self, scope, parser.should_keep_alive(), self.expect)
        self.parsing = cycle
        if self.active is None:
            self._start(cycle)
        else:
            self.queue.append(cycle)
            self._pause_reading()  # one pipelined request at a time is enough

    def on_body(self, body: bytes) -> None:
        cycle = self.parsing
        if cycle is None:
            return
        cycle.body.append(body)
        cycle.body_size += len(body)
        if cycle.body_size > _BODY_HIGH_WATER:
            self._pause_reading()
        cycle.wake()

    def on_message_complete(self) -> None:
        cycle = self.parsing
        if cycle is None:
            return
        self.parsing = None
        cycle.body_done = True
        cycle.wake()

    # --- helpers used by the cycles ---------------------------------------------------------------
    def _start(self, cycle: _Cycle) -> None:
        self.active = cycle
        self.loop.create_task(cycle.run(self.app))

    def body_taken(self, cycle: _Cycle) -> None:
        cycle.body_size = 0
        if self.read_paused and not self.queue and not self.closed:
            self.read_paused = False
            assert self.transport is not None
            self.transport.resume_reading()

    def write(self, data: bytes) -> None:
        if not self.closed and self.transport is not None:
            self.transport.write(data)

    async def drain(self) -> None:
        if not self.closed:
            await super().drain()

    def response_complete(self, cycle: _Cycle) -> None:
        if not cycle.keep_alive:
            self.close()

    def cycle_finished(self, cycle: _Cycle) -> None:
        if cycle is not self.active:
            return
        self.active = None
        if self.closed:
            return
        if not cycle.body_done and self.parsing is cycle:
            # the application did not read the whole body; the rest cannot be told from the next request
            self.close()
            return
        if self.queue:
            self._start(self.queue.popleft())
            if not self.queue and self.read_paused:
                self.read_paused = False
                assert self.transport is not None
                self.transport.resume_reading()
        else:
            if self.server.shutting_down:
                self.close()
                return
            self.last_active = time.monotonic()

    def close(self) -> None:
        if not self.closed and self.transport is not None:
            self.closed = True
            self.transport.close()

    def _pause_reading(self) -> None:
        if not self.read_paused and self.transport is not None and not self.closed:
            self.read_paused = True
            self.transport.pause_reading()

    def _refuse(self, status: int, message: bytes) -> None:
        if self.active is None or not self.active.started:
            body = message + b"\n"
            self.write(b"HTTP/1.1 %d %b\r\ncontent-type: text/plain; charset=utf-8\r\ncontent-length: %d\r\n"
                       b"connection: close\r\n\r\n%b" % (status, _REASONS.get(status, b""), len(body), body))
        self.close()

    def head_overdue(self, now: float) -> bool:
        """Has a request head been trickling in for longer than ``head_timeout`` (slowloris), or has the
        application waited on a silent request body for that long?"""
        timeout = self.server.head_timeout
        if self.head_started:
            return now - self.head_started > timeout
        cycle = self.active
        return (cycle is not None and not cycle.body_done and cycle.waiter is not None
                and now - self.last_active > timeout)

    def time_out_head(self) -> None:
        self._refuse(408, b"request not received in time")

    def idle_for(self, now: float) -> float:
        """Seconds this keep-alive connection has waited for a request (0 while one is in progress)."""
        if self.active is not None or self.parsing is not None:
            return 0.0
        return now - self.last_active


class _HeadTooLarge(Exception):
    pass


class EdgeServer:
    """``await EdgeServer(app, host=..., port=...).serve()`` runs until :meth:`shutdown` or a signal."""

    def __init__(self, app: Any, *, host: str = "127.0.0.1", port: int = 8000, keepalive_timeout: float = 5.0,
                 max_head_bytes: int = 64 * 1024, head_timeout: float = 10.0, graceful_timeout: float = 5.0,
                 lifespan: bool = True, reuse_port: bool = False) -> None:
        self.app = app
        self.host = host
        self.port = port
        self.keepalive_timeout = keepalive_timeout
        self.max_head_bytes = max_head_bytes
        self.head_timeout = head_timeout
        self.graceful_timeout = graceful_timeout
        self.use_lifespan = lifespan
        self.reuse_port = reuse_port  # several processes on one port, the kernel spreading connections
        self.clock = _Clock()
        self.connections: set[_Connection] = set()
        self.state: dict[str, Any] = {}
        self.shutting_down = False
        self.started = asyncio.Event()
        self._stop = asyncio.Event()
        self._server: asyncio.base_events.Server | None = None
        self._lifespan: _Lifespan | None = None
        self.loop: asyncio.AbstractEventLoop = None  # type: ignore[assignment]

    async def serve(self, *, install_signals: bool = False) -> None:
        self.loop = asyncio.get_running_loop()
        if self.use_lifespan:
            self._lifespan = _Lifespan(self.app, self.state)
            if not await self._lifespan.startup():
                raise SystemExit(3)
        self._server = await self.loop.create_server(lambda: _Connection(self), self.host, self.port,
                                                     reuse_address=True, reuse_port=self.reuse_port or None,
                                                     backlog=2048)
        sock = self._server.sockets[0].getsockname()
        self.port = int(sock[1])
        if install_signals:
            for sig in (signal.SIGINT, signal.SIGTERM):
                self.loop.add_signal_handler(sig, self._stop.set)
        log.info("serving on http://%s:%d", self.host, self.port)
        self.started.set()
        ticker = self.loop.create_task(self._close_idle_connections())
        try:
            await self._stop.wait()
        finally:
            ticker.cancel()
            await self._close()

    async def _close_idle_connections(self) -> None:
        """Close keep-alive connections idle for ``keepalive_timeout`` and answer 408 to request heads still
        incomplete after ``head_timeout`` (one ticker, not a timer per request)."""
        period = min(1.0, self.keepalive_timeout / 4, self.head_timeout / 4)
        while True:
            await asyncio.sleep(period)
            now = time.monotonic()
            for conn in list(self.connections):
                if conn.head_overdue(now):
                    conn.time_out_head()
                elif conn.idle_for(now) >= self.keepalive_timeout:
                    conn.close()

    def shutdown(self) -> None:
        self._stop.set()

    async def _close(self) -> None:
        self.shutting_down = True
        if self._server is not None:
            self._server.close()
        for conn in list(self.connections):
            if conn.active is None:
                conn.close()
        deadline = self.loop.time() + self.graceful_timeout
        while any(c.active is not None for c in self.connections) and self.loop.time() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(0.05)
        for conn in list(self.connections):
            conn.close()
        if self._server is not None:
            await self._server.wait_closed()
        if self._lifespan is not None:
            await self._lifespan.shutdown()


class _Lifespan:
    """ASGI lifespan: start-up before the socket opens, shutdown after it closes. An application that
    does not speak lifespan (raises on the scope) is served anyway."""

    def __init__(self, app: Any, state: dict[str, Any]) -> None:
        self.app = app
        self.state = state
        self.inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.started = asyncio.Event()
        self.stopped = asyncio.Event()
        self.failed: str | None = None
        self.unsupported = False
        self.task: asyncio.Task[None] | None = None

    async def startup(self) -> bool:
        self.task = asyncio.get_running_loop().create_task(self._run())
        await self.inbox.put({"type": "lifespan.startup"})
        await self.started.wait()
        if self.failed is not None:
            log.error("application start-up failed: %s", self.failed)
            return False
        return True

    async def shutdown(self) -> None:
        if self.unsupported or self.task is None or self.task.done():
            return
        await self.inbox.put({"type": "lifespan.shutdown"})
        await self.stopped.wait()

    async def _run(self) -> None:
        scope = {"type": "lifespan", "asgi": {"version": "3.0", "spec_version": "2.0"}, "state": self.state}
        try:
            await self.app(scope, self.inbox.get, self._send)
        except BaseException as exc:
            if not self.started.is_set():
                self.unsupported = True
                log.info("the application does not support lifespan (%s); serving without it", exc)
        finally:
            self.started.set()
            self.stopped.set()

    async def _send(self, message: dict[str, Any]) -> None:
        kind = message["type"]
        if kind == "lifespan.startup.failed":
            self.failed = message.get("message", "") or "start-up failed"
        if kind in ("lifespan.startup.complete", "lifespan.startup.failed"):
            self.started.set()
        elif kind in ("lifespan.shutdown.complete", "lifespan.shutdown.failed"):
            self.stopped.set()


def run(app: Any, *, host: str, port: int, **options: Any) -> None:
    """Serve ``app`` on uvloop until SIGINT or SIGTERM (the gateway process's entry point)."""
    import uvloop

    server = EdgeServer(app, host=host, port=port, **options)
    uvloop.run(server.serve(install_signals=True))


def main(argv: list[str] | None = None) -> int:
    """``python -m sync.web.edge module:attr [--factory] [--host H] [--port P]`` (tests and benchmarks)."""
    import argparse
    import importlib
    import os

    parser = argparse.ArgumentParser(prog="python -m sync.web.edge", description=main.__doc__)
    parser.add_argument("target", help="module:attribute of an ASGI app (or of a factory with --factory)")
    parser.add_argument("--factory", action="store_true", help="call the attribute to get the app")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    args = parser.parse_args(argv)
    logging.basicConfig(level=os.environ.get("LOG_LEVEL", "INFO").upper(),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    module, _, attr = args.target.partition(":")
    app = getattr(importlib.import_module(module), attr)
    run(app() if args.factory else app, host=args.host, port=args.port)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
