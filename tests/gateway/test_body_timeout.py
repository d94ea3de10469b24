"""A request body that stops arriving gets 408 and the connection closes; a slow but steady body is not
cut (the real gateway, served by granian as production serves it, and a real upstream)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from sync.gateway.gateway import APIGateway
from tests.gateway.conftest import endpoint, make_settings, serve_with_granian

pytestmark = pytest.mark.anyio


def _head(length: int) -> bytes:
    return (b"POST /inv/orders HTTP/1.1\r\nhost: gw\r\ncontent-type: application/json\r\n"
            b"content-length: %d\r\n\r\n" % length)


async def _answer(reader: asyncio.StreamReader) -> tuple[int, dict[str, str], bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    status = int(lines[0].split()[1])
    headers = {k.lower(): v.strip() for k, v in (line.split(":", 1) for line in lines[1:] if ":" in line)}
    body = await reader.readexactly(int(headers["content-length"]))
    return status, headers, body


async def test_a_stalled_body_is_a_408_and_the_upstream_never_gets_a_request(upstreams: Any) -> None:
    inv = await upstreams("inv")
    gateway = APIGateway(settings=make_settings(GATEWAY_BODY_TIMEOUT=0.5))
    gateway.add_service("inv", endpoint(inv))
    async with gateway, serve_with_granian(gateway) as base:
        port = int(base.rsplit(":", 1)[1])
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            writer.write(_head(100) + b'{"sku": "A"')  # 11 of 100 bytes, then silence
            await writer.drain()
            status, headers, body = await asyncio.wait_for(_answer(reader), 10)
            assert status == 408
            assert json.loads(body)["error"]["code"] == "request_timeout"
            assert headers.get("connection", "").lower() == "close"
            assert await asyncio.wait_for(reader.read(), 10) == b""  # and the connection is closed
        finally:
            writer.close()  # without the guard the request would wait for its body forever
    assert inv.hits == 0  # nothing half-sent was passed on


async def test_a_slow_but_steady_body_is_not_cut(upstreams: Any) -> None:
    inv = await upstreams("inv")
    gateway = APIGateway(settings=make_settings(GATEWAY_BODY_TIMEOUT=0.5))
    gateway.add_service("inv", endpoint(inv))
    payload = json.dumps({"sku": "A", "pad": "x" * 40}).encode()
    async with gateway, serve_with_granian(gateway) as base:
        port = int(base.rsplit(":", 1)[1])
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(_head(len(payload)))
        for i in range(0, len(payload), 10):  # a part every 0.3 s: 1.5 s in all, each gap under the timeout
            writer.write(payload[i:i + 10])
            await writer.drain()
            await asyncio.sleep(0.3)
        status, _, body = await asyncio.wait_for(_answer(reader), 10)
        assert status == 200 and json.loads(body)["body_len"] == len(payload)
        writer.close()
    assert inv.hits == 1
