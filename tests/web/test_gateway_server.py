"""The gateway's HTTP server (granian, as :func:`sync.gateway.launch.serve_gateway` configures it) spoken to
over raw sockets, byte for byte: what a client of the gateway relies on at the HTTP/1.1 level. Moved here
from the tests of the hand-written edge server it replaced; docs/gateway.md lists what changed."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from sync.gateway.launch import HEAD_TIMEOUT
from tests.serving import granian_in_loop

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


class Recorder:
    """An ASGI app that answers each request with what it received, and records lifespan events."""

    def __init__(self) -> None:
        self.events: list[str] = []
        self.disconnects = 0
        self.release = asyncio.Event()

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                self.events.append(message["type"])
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                else:
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        path = scope["path"]
        if path == "/boom":
            raise RuntimeError("secret internal detail")
        if path == "/split":  # a header value that would split the response
            await send({"type": "http.response.start", "status": 200,
                        "headers": [(b"x-evil", b"a\r\nset-cookie: stolen=1")]})
            await send({"type": "http.response.body", "body": b"never"})
            return
        if path == "/stream":  # no length: chunked, the first part before the second is released
            await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
            await send({"type": "http.response.body", "body": b"first;", "more_body": True})
            await self.release.wait()
            await send({"type": "http.response.body", "body": b"second", "more_body": False})
            return
        if path == "/wait-disconnect":
            while (await receive())["type"] != "http.disconnect":
                pass
            self.disconnects += 1
            return
        body = b""
        parts = 0
        while True:
            message = await receive()
            body += message.get("body", b"")
            parts += 1
            if not message.get("more_body"):
                break
        payload = json.dumps({"method": scope["method"], "path": path, "raw_path": scope["raw_path"].decode(),
                              "query": scope["query_string"].decode(), "body": body.decode(), "parts": parts,
                              "client": list(scope["client"]), "http_version": scope["http_version"],
                              "headers": [[n.decode(), v.decode()] for n, v in scope["headers"]]}).encode()
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(payload))]})
        await send({"type": "http.response.body", "body": payload})


@dataclass
class Served:
    port: int


@asynccontextmanager
async def served(app: Any, *, head_timeout: float = HEAD_TIMEOUT) -> AsyncIterator[Served]:
    """Serve ``app`` with granian and the gateway's HTTP/1 settings, embedded in this event loop."""
    async with granian_in_loop(app, head_timeout=head_timeout, quiet=True) as url:
        yield Served(int(url.rsplit(":", 1)[1]))


async def exchange(port: int, raw: bytes, *, until_close: bool = True) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(raw)
    await writer.drain()
    data = await asyncio.wait_for(reader.read(), 5) if until_close else b""
    writer.close()
    return data


def responses(data: bytes) -> list[tuple[int, dict[str, str], bytes]]:
    """Split a byte stream of responses with Content-Length bodies."""
    out = []
    while data:
        head, _, rest = data.partition(b"\r\n\r\n")
        lines = head.decode().split("\r\n")
        headers = {k.lower(): v.strip() for k, v in (line.split(":", 1) for line in lines[1:])}
        length = int(headers.get("content-length", "0"))
        out.append((int(lines[0].split()[1]), headers, rest[:length]))
        data = rest[length:]
    return out


async def test_keep_alive_and_pipelined_requests_are_answered_in_order() -> None:
    async with served(Recorder()) as server:
        raw = (b"GET /a?x=1 HTTP/1.1\r\nHost: h\r\n\r\n"
               b"POST /b HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello"
               b"GET /c%20d HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n")
        got = responses(await exchange(server.port, raw))
    assert [s for s, _, _ in got] == [200, 200, 200]
    bodies = [json.loads(b) for _, _, b in got]
    assert [(b["method"], b["path"], b["query"]) for b in bodies] == [("GET", "/a", "x=1"), ("POST", "/b", ""),
                                                                      ("GET", "/c d", "")]
    assert bodies[1]["body"] == "hello" and bodies[2]["raw_path"] == "/c%20d"
    assert got[2][1]["connection"] == "close" and "date" in got[0][1]


async def test_chunked_request_body_reaches_the_app_whole() -> None:
    async with served(Recorder()) as server:
        raw = (b"PUT /up HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
               b"4\r\nabcd\r\n3\r\nefg\r\n0\r\n\r\n")
        [(status, _, body)] = responses(await exchange(server.port, raw))
    assert status == 200 and json.loads(body)["body"] == "abcdefg"


async def test_large_request_body_is_streamed_in_parts() -> None:
    async with served(Recorder()) as server, httpx.AsyncClient() as client:
        r = await client.post(f"http://127.0.0.1:{server.port}/big", content=b"x" * (3 * 1024 * 1024))
    assert r.status_code == 200
    got = r.json()
    assert len(got["body"]) == 3 * 1024 * 1024 and got["parts"] > 1


async def test_response_without_length_is_chunked_and_streams() -> None:
    app = Recorder()
    async with served(app) as server:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(b"GET /stream HTTP/1.1\r\nHost: h\r\n\r\n")
        first = await asyncio.wait_for(reader.readuntil(b"first;\r\n"), 5)  # before the rest exists
        app.release.set()
        rest = await asyncio.wait_for(reader.readuntil(b"0\r\n\r\n"), 5)
        writer.close()
    assert b"transfer-encoding: chunked" in first.lower() and b"content-length" not in first.lower()
    assert rest == b"6\r\nsecond\r\n0\r\n\r\n"


async def test_http10_client_gets_the_body_then_close() -> None:
    app = Recorder()
    app.release.set()
    async with served(app) as server:
        data = await exchange(server.port, b"GET /stream HTTP/1.0\r\n\r\n")
    head, _, body = data.partition(b"\r\n\r\n")  # exchange() returned: the server closed the connection
    assert b"chunked" not in head.lower() and b"keep-alive" not in head.lower()
    assert body == b"first;second"


async def test_head_gets_headers_but_no_body() -> None:
    async with served(Recorder()) as server:
        data = await exchange(server.port, b"HEAD /x HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n")
    head, _, body = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200") and b"content-length: " in head and body == b""


async def test_expect_100_continue_is_answered_before_the_body() -> None:
    async with served(Recorder()) as server:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(b"POST /x HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 3\r\n"
                     b"Connection: close\r\n\r\n")
        interim = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
        writer.write(b"abc")
        rest = await asyncio.wait_for(reader.read(), 5)
        writer.close()
    assert interim == b"HTTP/1.1 100 Continue\r\n\r\n"
    assert json.loads(rest.partition(b"\r\n\r\n")[2])["body"] == "abc"


@pytest.mark.parametrize(("raw", "status"), [
    (b"GARBAGE\r\n\r\n", 400),
    (b"GET / HTTP/1.1\r\nHost: h\r\nX-Big: " + b"a" * 70_000 + b"\r\n\r\n", 431),
], ids=["malformed", "head-too-large"])
async def test_bad_requests_get_a_4xx_and_the_connection_closes(raw: bytes, status: int) -> None:
    async with served(Recorder()) as server:
        data = await exchange(server.port, raw)
    assert data.startswith(b"HTTP/1.1 %d " % status) and b"connection: close" in data.lower()


async def test_request_with_both_length_and_chunked_is_not_smuggled() -> None:
    """Content-Length beside Transfer-Encoding: chunked (request smuggling): the body is read as chunked,
    the request answered and the connection closed, so the bytes after it never become a request."""
    app = Recorder()
    async with served(app) as server:
        data = await exchange(server.port, b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 40\r\n"
                                           b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n"
                                           b"GET /smuggled HTTP/1.1\r\nHost: h\r\n\r\n")
    assert b"connection: close" in data.lower() and b"/smuggled" not in data
    assert data.count(b"HTTP/1.1 ") == 1


async def test_application_error_is_a_plain_500_without_details() -> None:
    async with served(Recorder()) as server:
        data = await exchange(server.port, b"GET /boom HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n")
        split = await exchange(server.port, b"GET /split HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n")
    assert data.startswith(b"HTTP/1.1 500 ") and b"secret internal detail" not in data and b"Traceback" not in data
    assert split.startswith(b"HTTP/1.1 500 ") and b"stolen" not in split and b"never" not in split


async def test_http10_keep_alive_is_acknowledged() -> None:
    async with served(Recorder()) as server:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        for _ in range(2):  # two requests on one HTTP/1.0 connection
            writer.write(b"GET /x HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
            length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
            await reader.readexactly(length)
            assert b"connection: keep-alive" in head.lower()
        writer.close()


async def test_disconnect_reaches_the_app_and_lifespan_runs() -> None:
    app = Recorder()
    async with served(app) as server:
        _reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(b"GET /wait-disconnect HTTP/1.1\r\nHost: h\r\n\r\n")
        await writer.drain()
        await asyncio.sleep(0.05)
        writer.close()
        for _ in range(100):
            if app.disconnects:
                break
            await asyncio.sleep(0.02)
        assert app.disconnects == 1
        assert app.events == ["lifespan.startup"]
    assert app.events == ["lifespan.startup", "lifespan.shutdown"]


async def test_idle_keep_alive_connection_is_closed_after_the_timeout() -> None:
    async with served(Recorder(), head_timeout=0.3) as server:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(b"GET /x HTTP/1.1\r\nHost: h\r\n\r\n")
        await writer.drain()
        data = await asyncio.wait_for(reader.read(), 5)  # returns once the server closes
        writer.close()
    assert data.startswith(b"HTTP/1.1 200") and b"connection: close" not in data.lower()


async def test_request_head_trickling_in_too_slowly_is_cut_off() -> None:
    """A slowloris client cannot hold a connection: granian closes it once the head has taken longer than
    the head timeout (without an answer; the edge server sent a 408)."""
    async with served(Recorder(), head_timeout=0.3) as server:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(b"GET /x HTTP/1.1\r\nHost: h\r\n")
        for _ in range(2):  # a header line now and then, the head never finished
            await asyncio.sleep(0.1)
            writer.write(b"X-Slow: 1\r\n")
        data = await asyncio.wait_for(reader.read(), 5)
        writer.close()
    assert data == b""
