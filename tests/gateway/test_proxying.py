"""Proxying done right: headers both ways, request ids, forwarding, streaming, size limit, traversal."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from aiohttp import web

from sync.api_gateway import APIGateway
from tests.gateway.conftest import direct, endpoint, make_settings
from tests.serving import free_port

pytestmark = pytest.mark.anyio


async def _raw_get(url: str, target: str) -> bytes:
    host, port = url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(f"GET {target} HTTP/1.1\r\nHost: gw\r\nConnection: close\r\n\r\n".encode())
    await writer.drain()
    data = await reader.read()
    writer.close()
    return data


async def test_hop_by_hop_headers_stripped_and_forwarding_headers_set(upstreams) -> None:  # type: ignore[no-untyped-def]
    up = await upstreams("inv-1")
    gateway = APIGateway(settings=make_settings())
    gateway.add_service("inventory", endpoint(up))
    trace = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    async with direct(gateway, client_host="198.51.100.7") as client:
        r = await client.get("/inventory/x", headers={
            "Connection": "keep-alive, X-Drop-Me", "X-Drop-Me": "secret", "Keep-Alive": "timeout=5",
            "Proxy-Authorization": "Basic abc", "TE": "trailers", "traceparent": trace, "X-Custom": "kept",
            "X-Forwarded-For": "10.9.9.9", "X-Request-ID": "client-chosen-id-1"})
    assert r.status_code == 200
    sent = {k.lower(): v for k, v in up.requests[-1]["headers"].items()}  # type: ignore[union-attr]
    for gone in ("x-drop-me", "keep-alive", "proxy-authorization", "te"):
        assert gone not in sent
    assert sent["x-custom"] == "kept" and sent["traceparent"] == trace
    assert sent["x-forwarded-for"] == "198.51.100.7"  # the spoofed entry from an untrusted peer is dropped
    assert sent["x-forwarded-proto"] == "http" and sent["x-forwarded-host"] == "gateway"
    assert sent["x-request-id"] == "client-chosen-id-1" == r.headers["x-request-id"]
    # the upstream's own hop-by-hop headers (Connection: X-Secret-Hop, Keep-Alive) do not reach the client
    assert "x-secret-hop" not in r.headers and "keep-alive" not in r.headers


async def test_request_id_is_generated_when_missing_or_malformed(upstreams) -> None:  # type: ignore[no-untyped-def]
    up = await upstreams("inv-1")
    gateway = APIGateway(settings=make_settings())
    gateway.add_service("inventory", endpoint(up))
    async with direct(gateway) as client:
        first = await client.get("/inventory/a")
        second = await client.get("/inventory/b", headers={"X-Request-ID": "bad id\twith spaces"})
        admin = await client.get("/health")
    ids = [first.headers["x-request-id"], second.headers["x-request-id"], admin.headers["x-request-id"]]
    assert len(set(ids)) == 3 and all(len(i) == 32 for i in ids)
    assert up.requests[1]["headers"]["X-Request-ID"] == ids[1]  # type: ignore[index]


async def test_trusted_proxy_forwarded_for_is_kept(upstreams) -> None:  # type: ignore[no-untyped-def]
    up = await upstreams("inv-1")
    gateway = APIGateway(settings=make_settings(GATEWAY_TRUSTED_PROXIES="10.0.0.0/8"))
    gateway.add_service("inventory", endpoint(up))
    async with direct(gateway, client_host="10.1.2.3") as client:
        await client.get("/inventory/x", headers={"X-Forwarded-For": "203.0.113.9"})
    assert up.requests[-1]["headers"]["X-Forwarded-For"] == "203.0.113.9, 10.1.2.3"  # type: ignore[index]


async def test_path_traversal_is_refused(upstreams, serving) -> None:  # type: ignore[no-untyped-def]
    up = await upstreams("inv-1")
    gateway = APIGateway(settings=make_settings())
    gateway.add_service("inventory", endpoint(up))
    async with serving(gateway) as url:
        for target in ("/inventory/../metrics", "/inventory/%2e%2e/%2e%2e/etc/passwd", "/inventory/a/../../x",
                       "/inventory/a%2f..%2f..%2fx", "/inventory/a%5c..%5cx"):
            answer = await _raw_get(url, target)
            assert answer.startswith(b"HTTP/1.1 400"), (target, answer[:200])
        ok = await _raw_get(url, "/inventory/a/./b/../c")
        assert ok.startswith(b"HTTP/1.1 200") and b'"path": "/a/c"' in ok
    assert all(".." not in str(req["path"]) for req in up.requests)


async def test_request_body_limit(upstreams, serving) -> None:  # type: ignore[no-untyped-def]
    up = await upstreams("inv-1")
    gateway = APIGateway(settings=make_settings(GATEWAY_MAX_BODY_BYTES=1000))
    gateway.add_service("inventory", endpoint(up))
    async with serving(gateway) as url, httpx.AsyncClient(base_url=url) as client:
        big = await client.post("/inventory/import", content=b"x" * 1001)
        assert big.status_code == 413 and big.json()["error"]["code"] == "payload_too_large"

        async def chunks():  # type: ignore[no-untyped-def]
            for _ in range(5):
                yield b"y" * 300

        streamed = await client.post("/inventory/import", content=chunks())
        assert streamed.status_code == 413
        ok = await client.post("/inventory/import", content=b"x" * 1000)
        assert ok.status_code == 200 and ok.json()["body_len"] == 1000
    assert up.hits == 1


async def test_body_limit_holds_for_streamed_bodies_past_the_replay_buffer(upstreams, serving) -> None:  # type: ignore[no-untyped-def]
    up = await upstreams("inv-1")
    gateway = APIGateway(settings=make_settings(GATEWAY_MAX_BODY_BYTES=400_000))
    gateway.add_service("inventory", endpoint(up))

    async def chunks():  # type: ignore[no-untyped-def]
        for _ in range(10):  # 500 KB without Content-Length: past the 256 KB buffer, then over the limit
            yield b"q" * 50_000

    async with serving(gateway) as url, httpx.AsyncClient(base_url=url) as client:
        r = await client.post("/inventory/import", content=chunks())
        assert r.status_code == 413 and r.json()["error"]["code"] == "payload_too_large"
        assert (await client.get("/inventory/after")).status_code == 200  # the gateway is fine afterwards


async def test_large_request_body_streams_to_upstream(upstreams, serving) -> None:  # type: ignore[no-untyped-def]
    up = await upstreams("inv-1")
    gateway = APIGateway(settings=make_settings())
    gateway.add_service("inventory", endpoint(up))
    async with serving(gateway) as url, httpx.AsyncClient(base_url=url) as client:
        r = await client.put("/inventory/blob", content=b"z" * (3 * 1024 * 1024))
    assert r.status_code == 200 and r.json()["body_len"] == 3 * 1024 * 1024


async def test_large_response_is_streamed_not_buffered(serving) -> None:
    """The client gets the first chunk while the upstream is still holding back the rest."""
    release = asyncio.Event()

    async def slow_big(request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse()
        await resp.prepare(request)
        await resp.write(b"a" * 100_000)
        await release.wait()
        for _ in range(80):
            await resp.write(b"b" * 100_000)
        await resp.write_eof()
        return resp

    async def health(request: web.Request) -> web.Response:
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_get("/big", slow_big)
    app.router.add_get("/health", health)
    runner = web.AppRunner(app, shutdown_timeout=0.1)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    from sync.gateway.models import ServiceEndpoint

    gateway = APIGateway(settings=make_settings())
    gateway.add_service("files", ServiceEndpoint(name="files-1", url=f"http://127.0.0.1:{port}",
                                                 health_check_url=f"http://127.0.0.1:{port}/health"))
    try:
        async with serving(gateway) as url, httpx.AsyncClient(base_url=url) as client:
            async with client.stream("GET", "/files/big") as resp:
                received = 0
                async for chunk in resp.aiter_bytes():
                    received += len(chunk)
                    if received >= 100_000 and not release.is_set():
                        release.set()  # only now may the upstream send the other 8 MB
                assert received == 8_100_000
    finally:
        await runner.cleanup()


async def test_metrics_endpoint_is_prometheus_text(upstreams) -> None:  # type: ignore[no-untyped-def]
    up = await upstreams("inv-1")
    gateway = APIGateway(settings=make_settings())
    gateway.add_service("inventory", endpoint(up))
    async with direct(gateway) as client:
        for _ in range(3):
            await client.get("/inventory/x")
        r = await client.get("/metrics")
    assert r.headers["content-type"].startswith("text/plain")
    assert 'gateway_requests_total{method="GET",service="inventory",status="200"} 3.0' in r.text
    assert 'gateway_request_duration_seconds_count{service="inventory"} 3.0' in r.text
    assert 'gateway_instance_healthy{instance="inv-1",service="inventory"} 1.0' in r.text
