"""The gateway's upstream HTTP/1.1 client against raw socket servers that answer exactly what a test says."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import pytest

from sync.gateway.upstream import UpstreamError, UpstreamPool, UpstreamTimeout

pytestmark = pytest.mark.anyio

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


class RawServer:
    """Counts connections and hands each to ``handler``."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.connections = 0
        self.requests: list[bytes] = []

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            await self.handler(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    async def read_request(self, reader: asyncio.StreamReader) -> bytes:
        head = await reader.readuntil(b"\r\n\r\n")
        self.requests.append(head)
        return head


@asynccontextmanager
async def raw_server(make: Callable[[RawServer], Handler]) -> AsyncIterator[tuple[RawServer, str]]:
    server = RawServer(lambda r, w: asyncio.sleep(0))
    server.handler = make(server)
    srv = await asyncio.start_server(server._serve, "127.0.0.1", 0)
    port = srv.sockets[0].getsockname()[1]
    try:
        yield server, f"http://127.0.0.1:{port}"
    finally:
        srv.close()


def ok(body: bytes) -> bytes:
    return b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%b" % (len(body), body)


async def test_keep_alive_reuses_one_connection_and_sends_host_and_headers() -> None:
    def make(server: RawServer) -> Handler:
        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            while True:
                await server.read_request(reader)
                writer.write(ok(b"hello"))
        return handle

    pool = UpstreamPool()
    async with raw_server(make) as (server, url):
        for _ in range(5):
            resp = await pool.request(url, "GET", b"/a?b=1", [(b"x-one", b"1")], None, read_timeout=2)
            assert resp.status == 200 and await resp.read() == b"hello"
            resp.release()
        await pool.aclose()
    assert server.connections == 1 and len(server.requests) == 5
    first = server.requests[0]
    assert first.startswith(b"GET /a?b=1 HTTP/1.1\r\n") and b"host: 127.0.0.1:" in first and b"x-one: 1" in first


async def test_chunked_and_close_delimited_bodies_arrive_whole() -> None:
    def make(server: RawServer) -> Handler:
        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            head = await server.read_request(reader)
            if b"/chunked" in head:
                writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n")
                await writer.drain()
                await server.read_request(reader)  # the connection stays usable
                writer.write(ok(b"again"))
            else:  # no length, no chunking: the body ends when the connection does
                writer.write(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nuntil-the-end")
            await writer.drain()
        return handle

    pool = UpstreamPool()
    async with raw_server(make) as (server, url):
        resp = await pool.request(url, "GET", b"/chunked", [], None, read_timeout=2)
        assert await resp.read() == b"abcde"
        resp.release()
        resp = await pool.request(url, "GET", b"/chunked", [], None, read_timeout=2)
        assert await resp.read() == b"again"
        resp.release()
        resp = await pool.request(url, "GET", b"/close", [], None, read_timeout=2)
        assert resp.content_length is None and await resp.read() == b"until-the-end"
        resp.release()
        await pool.aclose()
    assert server.connections == 2


async def test_head_interim_and_no_content_responses_have_no_body() -> None:
    def make(server: RawServer) -> Handler:
        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            while True:
                head = await server.read_request(reader)
                if head.startswith(b"HEAD"):
                    writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 1234\r\n\r\n")
                elif b"/interim" in head:
                    writer.write(b"HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n" + ok(b"final"))
                else:
                    writer.write(b"HTTP/1.1 204 No Content\r\n\r\n")
        return handle

    pool = UpstreamPool()
    async with raw_server(make) as (_, url):
        resp = await pool.request(url, "HEAD", b"/", [], None, read_timeout=2)
        assert resp.status == 200 and resp.content_length == 0 and await resp.read() == b""
        resp.release()
        resp = await pool.request(url, "GET", b"/interim", [], None, read_timeout=2)
        assert resp.status == 200 and await resp.read() == b"final"
        resp.release()
        resp = await pool.request(url, "DELETE", b"/x", [], None, read_timeout=2)
        assert resp.status == 204 and await resp.read() == b""
        resp.release()
        await pool.aclose()


async def test_streamed_request_body_is_chunked() -> None:
    received = bytearray()

    def make(server: RawServer) -> Handler:
        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            head = await server.read_request(reader)
            assert b"transfer-encoding: chunked" in head
            while True:
                size = int((await reader.readuntil(b"\r\n")).strip(), 16)
                data = await reader.readexactly(size + 2)
                if size == 0:
                    break
                received.extend(data[:-2])
            writer.write(ok(b"got it"))
            await writer.drain()
        return handle

    async def body() -> AsyncIterator[bytes]:
        for i in range(5):
            yield bytes([65 + i]) * 100_000

    pool = UpstreamPool()
    async with raw_server(make) as (_, url):
        resp = await pool.request(url, "POST", b"/up", [], body(), read_timeout=5)
        assert await resp.read() == b"got it"
        resp.release()
        await pool.aclose()
    assert bytes(received) == b"".join(bytes([65 + i]) * 100_000 for i in range(5))


async def test_stale_keep_alive_connection_is_retried_for_idempotent_requests_only() -> None:
    """The upstream answers, then closes without saying so: the next request finds the socket dead."""
    def make(server: RawServer) -> Handler:
        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await server.read_request(reader)
            writer.write(ok(b"once"))
            await writer.drain()
            await reader.read(1)  # the next request's first byte, then close without answering
        return handle

    pool = UpstreamPool()
    async with raw_server(make) as (server, url):
        resp = await pool.request(url, "GET", b"/", [], None, read_timeout=2)
        await resp.read()
        resp.release()
        resp = await pool.request(url, "GET", b"/", [], None, read_timeout=2)  # dead socket, then a new one
        assert await resp.read() == b"once"
        resp.release()
        assert server.connections == 2
        with pytest.raises(UpstreamError):
            await pool.request(url, "POST", b"/", [], b"x", read_timeout=2, retry_stale=False)
        await pool.aclose()


@pytest.mark.slow
async def test_silence_times_out_and_garbage_is_an_error() -> None:
    def make(server: RawServer) -> Handler:
        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            head = await server.read_request(reader)
            if b"/garbage" in head:
                writer.write(b"NOT HTTP AT ALL\r\n\r\n")
            elif b"/stall" in head:  # headers, half the body, then nothing
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhalf!")
            await writer.drain()
            await asyncio.sleep(5)
        return handle

    pool = UpstreamPool()
    async with raw_server(make) as (_, url):
        with pytest.raises(UpstreamTimeout):
            await pool.request(url, "GET", b"/silent", [], None, read_timeout=0.3)
        with pytest.raises(UpstreamError):
            await pool.request(url, "GET", b"/garbage", [], None, read_timeout=2)
        resp = await pool.request(url, "GET", b"/stall", [], None, read_timeout=0.3)
        with pytest.raises(UpstreamTimeout):
            await resp.read()
        resp.close()
        await pool.aclose()
    with pytest.raises(UpstreamError):  # nothing listens there any more
        await pool.request(url, "GET", b"/", [], None, read_timeout=1)


async def test_unsolicited_bytes_on_an_idle_connection_retire_it() -> None:
    """Some servers send a 408 on a keep-alive connection before closing it: that is no answer to the
    next request, and the connection is not used again."""
    def make(server: RawServer) -> Handler:
        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await server.read_request(reader)
            writer.write(ok(b"first"))
            await writer.drain()
            await asyncio.sleep(0.05)
            writer.write(b"HTTP/1.1 408 Request Timeout\r\nContent-Length: 0\r\n\r\n")
            await writer.drain()
            await asyncio.sleep(5)
        return handle

    pool = UpstreamPool()
    async with raw_server(make) as (server, url):
        resp = await pool.request(url, "GET", b"/", [], None, read_timeout=2)
        assert await resp.read() == b"first"
        resp.release()
        await asyncio.sleep(0.2)
        assert pool.idle_count() == 0
        resp = await pool.request(url, "GET", b"/", [], None, read_timeout=2)
        assert resp.status == 200 and await resp.read() == b"first"
        resp.release()
        await pool.aclose()
    assert server.connections == 2
