"""The overall deadline per proxied request (issue 13 item 5).

Upstreams that trickle (one byte now and then, never silent long enough for an inactivity timeout) must
not hold a request past its deadline, and a timed-out attempt is never repeated on the same instance.
Upstreams are raw socket servers; the gateway is served by granian over real HTTP. Assertions
are on statuses and on what each upstream received, not on elapsed time (the deadline is small, so a
test that fails holds for at most a few seconds).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import httpx
import pytest

from sync.gateway.gateway import APIGateway
from sync.gateway.models import ServiceEndpoint
from tests.gateway.conftest import make_settings, serve_with_granian

pytestmark = [pytest.mark.anyio, pytest.mark.slow]

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


class Trickler:
    """An upstream that answers ``/health`` at once and everything else by trickling: the head or the
    body one byte every ``every`` seconds (for up to ``total`` bytes); counts the requests it got."""

    def __init__(self, part: str, every: float = 0.2, total: int = 100) -> None:
        self.part = part
        self.every = every
        self.total = total
        self.hits = 0
        self.url = ""
        self._server: asyncio.Server | None = None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                if head.startswith(b"GET /health "):
                    writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
                    await writer.drain()
                    continue
                self.hits += 1
                if self.part == "head":
                    data = b"HTTP/1.1 200 OK\r\n" + b"x-slow: " + b"y" * self.total
                else:
                    writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: %d\r\n\r\n" % self.total)
                    data = b"z" * self.total
                for i in range(len(data)):
                    writer.write(data[i:i + 1])
                    await writer.drain()
                    await asyncio.sleep(self.every)
                return
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    async def __aenter__(self) -> Trickler:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.url = f"http://127.0.0.1:{self._server.sockets[0].getsockname()[1]}"
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()


@asynccontextmanager
async def served(gateway: APIGateway) -> AsyncIterator[httpx.AsyncClient]:
    async with gateway, serve_with_granian(gateway) as base, httpx.AsyncClient(base_url=base, timeout=10) as client:
        yield client


def instance(name: str, url: str, **kw: object) -> ServiceEndpoint:
    return ServiceEndpoint(name=name, url=url, health_check_url=url + "/health", **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize("part", ["head", "body"])
async def test_a_trickling_upstream_gets_a_504_at_the_deadline_and_no_retry_on_itself(part: str) -> None:
    """Each byte comes well within the 1 s timeout, but the whole answer would take 20 s: the client
    gets a 504 within its own 10 s (the body here is small, so the gateway holds it until complete), and the GET is not
    sent to the same instance again."""
    async with Trickler(part) as slow:
        gateway = APIGateway(settings=make_settings())
        gateway.add_service("ml", instance("ml-1", slow.url, timeout=1, retry_count=3))
        async with served(gateway) as client:
            r = await client.get("/ml/report")
            assert r.status_code == 504, r.text
            assert r.json()["error"]["code"] == "gateway_timeout"
            assert r.json()["error"]["details"]["instance"] == "ml-1"
        assert slow.hits == 1


async def test_a_timed_out_get_is_retried_on_another_instance_only() -> None:
    """With a request deadline longer than the endpoint's timeout, the GET that timed out on the
    trickling instance is retried, on the healthy one."""
    async with Trickler("head") as slow, Trickler("body", every=0.0, total=5) as fast:
        gateway = APIGateway(settings=make_settings(GATEWAY_REQUEST_DEADLINE=5))
        gateway.add_service("ml", instance("ml-slow", slow.url, timeout=1, circuit_breaker_threshold=100))
        gateway.add_service("ml", instance("ml-fast", fast.url, timeout=1, circuit_breaker_threshold=100))
        async with served(gateway) as client:
            for _ in range(4):
                r = await client.get("/ml/report")
                assert r.status_code == 200 and r.content == b"zzzzz"
        assert slow.hits == 2 and fast.hits == 4  # every other first attempt went to the slow one, once


async def test_the_request_deadline_bounds_all_attempts_together() -> None:
    """Two trickling instances, endpoint timeout 1 s, request deadline 1.5 s: the first attempt uses
    1 s, the retry on the other instance gets what is left, then the client has its 504."""
    async with Trickler("head") as a, Trickler("head") as b:
        gateway = APIGateway(settings=make_settings(GATEWAY_REQUEST_DEADLINE=1.5))
        gateway.add_service("ml", instance("ml-a", a.url, timeout=1, circuit_breaker_threshold=100))
        gateway.add_service("ml", instance("ml-b", b.url, timeout=1, circuit_breaker_threshold=100))
        async with served(gateway) as client:
            r = await client.get("/ml/report")
            assert r.status_code == 504
        assert a.hits + b.hits == 2 and a.hits == 1
