"""A pipelined Redis client for the rate limiter's one command per request (asyncio protocol + hiredis).

Why not redis-py's asyncio client here: measured with the gateway benchmark, a rate-limit check through
it cost about 140 us of the gateway's CPU per request (connection checkout, command packing in Python,
a stream reader), which halved the gateway's throughput whenever limits were shared through Redis. This
client keeps one connection, writes each command as it comes (commands from concurrent requests share
the socket and are answered in order), parses replies with hiredis (the parser redis-py itself uses when
installed), and runs a script by SHA, loading it once when Redis answers NOSCRIPT. The shared registry
and health pings keep using redis-py; only the per-request path goes through here.

Failures raise :class:`RespError`: connection refused or lost, no reply within ``timeout`` seconds
(checked by one ticker, not a timer per command), or an error reply.
"""

from __future__ import annotations

import asyncio
import hashlib
import ssl
import time
from collections import deque
from typing import Any

import hiredis
from redis.connection import parse_url

_TICK = 0.05


class RespError(Exception):
    """A Redis command failed: no connection, no reply in time, or an error reply."""


class RespReplyError(RespError):
    """Redis answered with an error reply (it is up; the command was refused)."""


class _Protocol(asyncio.Protocol):
    def __init__(self, client: RespClient) -> None:
        self.client = client
        self.reader = hiredis.Reader()
        self.transport: asyncio.Transport | None = None
        self.waiting: deque[tuple[asyncio.Future[Any], float]] = deque()
        self.closed = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        reader = self.reader
        reader.feed(data)
        waiting = self.waiting
        while True:
            try:
                reply = reader.gets()
            except hiredis.ProtocolError as exc:
                self.fail(RespError(f"malformed reply from Redis: {exc}"))
                return
            if reply is False:
                return
            if not waiting:
                self.fail(RespError("Redis sent a reply nobody asked for"))
                return
            future, _ = waiting.popleft()
            if future.done():
                continue
            if isinstance(reply, hiredis.ReplyError):
                future.set_exception(RespReplyError(str(reply)))
            else:
                future.set_result(reply)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self._fail_waiting(RespError(f"connection to Redis lost{': ' + str(exc) if exc else ''}"))
        self.client.forget(self)

    def fail(self, exc: RespError) -> None:
        """Fail every pending command and drop the connection (replies could no longer be matched)."""
        self._fail_waiting(exc)
        if self.transport is not None and not self.closed:
            self.closed = True
            self.transport.close()
        self.client.forget(self)

    def _fail_waiting(self, exc: RespError) -> None:
        waiting, self.waiting = self.waiting, deque()
        for future, _ in waiting:
            if not future.done():
                future.set_exception(exc)


class RespClient:
    """One pipelined connection to the Redis of ``url`` (``redis://``, ``rediss://`` or ``unix://``)."""

    def __init__(self, url: str, *, timeout: float = 1.0, connect_timeout: float = 0.5) -> None:
        self.options: dict[str, Any] = parse_url(url)  # type: ignore[no-untyped-call]  # redis-py leaves it untyped
        self.tls = url.startswith("rediss://")
        self.timeout = timeout
        self.connect_timeout = connect_timeout
        self._tick_every = min(_TICK, timeout / 2)  # so no command waits much past ``timeout``
        self._proto: _Protocol | None = None
        self._connecting: asyncio.Future[_Protocol] | None = None
        self._ticker: asyncio.TimerHandle | None = None
        self._shas: dict[str, str] = {}

    async def execute(self, *args: Any) -> Any:
        """Send one command and return its reply (bytes, int, list, None)."""
        proto = self._proto
        if proto is None or proto.closed:
            proto = await self._connect()
        return await self._send(proto, args)

    def _send(self, proto: _Protocol, args: tuple[Any, ...]) -> asyncio.Future[Any]:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        proto.waiting.append((future, time.monotonic()))
        assert proto.transport is not None
        proto.transport.write(hiredis.pack_command(args))
        if self._ticker is None:
            self._ticker = loop.call_later(self._tick_every, self._tick)
        return future

    async def run_script(self, script: str, keys: list[str], args: list[Any]) -> Any:
        """EVALSHA, falling back to EVAL (which caches the script) when Redis does not know it yet."""
        sha = self._shas.get(script)
        if sha is None:
            sha = self._shas[script] = hashlib.sha1(script.encode(), usedforsecurity=False).hexdigest()
        try:
            return await self.execute("EVALSHA", sha, len(keys), *keys, *args)
        except RespError as exc:
            if not str(exc).startswith("NOSCRIPT"):
                raise
        return await self.execute("EVAL", script, len(keys), *keys, *args)

    async def ping(self) -> bool:
        return await self.execute("PING") in (b"PONG", "PONG")

    async def _connect(self) -> _Protocol:
        if self._connecting is not None:  # another request is already connecting: share its result
            return await asyncio.shield(self._connecting)
        loop = asyncio.get_running_loop()
        self._connecting = loop.create_future()
        try:
            proto = await self._open(loop)
        except BaseException as exc:
            failed, self._connecting = self._connecting, None
            error = exc if isinstance(exc, RespError) else RespError(f"cannot connect to Redis: {exc}")
            failed.set_exception(error)
            failed.exception()  # retrieved: waiters that exist re-raise it, none is fine too
            raise error from exc
        self._proto = proto
        done, self._connecting = self._connecting, None
        done.set_result(proto)
        return proto

    async def _open(self, loop: asyncio.AbstractEventLoop) -> _Protocol:
        opts = self.options
        try:
            async with asyncio.timeout(self.connect_timeout):
                if "path" in opts:
                    _, proto = await loop.create_unix_connection(lambda: _Protocol(self), opts["path"])
                else:
                    tls = ssl.create_default_context() if self.tls else None
                    _, proto = await loop.create_connection(lambda: _Protocol(self), opts.get("host", "localhost"),
                                                            int(opts.get("port", 6379)), ssl=tls)
        except (OSError, TimeoutError) as exc:
            raise RespError(f"cannot connect to Redis: {exc or type(exc).__name__}") from exc
        hello: list[tuple[Any, ...]] = []
        if opts.get("password"):
            hello.append(("AUTH", opts["username"], opts["password"]) if opts.get("username")
                         else ("AUTH", opts["password"]))
        if int(opts.get("db", 0) or 0):
            hello.append(("SELECT", int(opts["db"])))
        # written before anyone else can use the connection, so every later command follows them
        replies = [self._send(proto, command) for command in hello]
        try:
            for reply in replies:
                await reply
        except RespError:
            proto.fail(RespError("Redis refused AUTH or SELECT"))
            raise
        return proto

    def _tick(self) -> None:
        """Drop the connection when its oldest command has waited longer than ``timeout``."""
        self._ticker = None
        proto = self._proto
        if proto is None or not proto.waiting:
            return
        if time.monotonic() - proto.waiting[0][1] > self.timeout:
            proto.fail(RespError(f"Redis did not answer within {self.timeout:g}s"))
            return
        self._ticker = asyncio.get_running_loop().call_later(self._tick_every, self._tick)

    def forget(self, proto: _Protocol) -> None:
        if self._proto is proto:
            self._proto = None

    async def aclose(self) -> None:
        if self._ticker is not None:
            self._ticker.cancel()
            self._ticker = None
        proto, self._proto = self._proto, None
        if proto is not None:
            proto.fail(RespError("client closed"))
            await asyncio.sleep(0)
