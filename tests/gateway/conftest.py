"""Fixtures for the gateway tests: real upstream servers, a gateway served on a free port by uvicorn and by
granian (the production server, embedded in the test's event loop)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

import httpx
import pytest

from sync.gateway.gateway import APIGateway
from sync.gateway.models import ServiceEndpoint
from sync.settings import Settings
from tests.gateway.upstream import Upstream
from tests.serving import granian_in_loop, running_in_loop

SECRET = "test-secret-that-is-long-enough-for-hs256"
ADMIN_TOKEN = "gateway-admin-token-for-tests"  # what make_settings gives the gateway's admin check
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}  # headers of a call to an admin route


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def make_settings(**overrides: Any) -> Settings:
    """Settings isolated from the environment's Redis/JWT unless a test asks for them; admin token ADMIN_TOKEN."""
    base: dict[str, Any] = {"ADMIN_TOKEN": ADMIN_TOKEN, "REDIS_URL": None, "RATE_LIMIT_REDIS_URL": None,
                            "JWT_SECRET": None, "JWT_PUBLIC_KEY": None, "JWT_JWKS_URL": None, "JWT_AUDIENCE": None,
                            "JWT_ISSUER": None, "GATEWAY_TRUSTED_PROXIES": "", "HEALTH_CHECK_INTERVAL": 3600}
    base.update(overrides)
    return Settings(**base)


def endpoint(up: Upstream, **kw: Any) -> ServiceEndpoint:
    return ServiceEndpoint(name=up.name, url=up.url, health_check_url=up.url + "/health", **kw)


class FakeClock:
    """A monotonic clock the test moves by hand (breakers and limits read it; nothing sleeps)."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
async def upstreams() -> AsyncIterator[Callable[[str], Awaitable[Upstream]]]:
    started: list[Upstream] = []

    async def make(name: str) -> Upstream:
        up = await Upstream(name).start()
        started.append(up)
        return up

    yield make
    for up in started:
        await up.stop()


Serving = Callable[[APIGateway], AbstractAsyncContextManager[str]]


def serve_with_uvicorn(gateway: APIGateway) -> AbstractAsyncContextManager[str]:
    """Serve ``gateway.app`` with uvicorn (lifespan on) on a free port, as the seed's example does."""
    return running_in_loop(gateway.app)


def serve_with_granian(gateway: APIGateway) -> AbstractAsyncContextManager[str]:
    """Serve ``gateway.app`` with granian (what ``inventory-system serve gateway`` runs: ASGI interface with
    lifespan, the gateway's HTTP/1 limits), embedded in this event loop on a free port."""
    return granian_in_loop(gateway.app)


@pytest.fixture(params=[pytest.param("uvicorn", marks=pytest.mark.slow), "granian"])
def serving(request: pytest.FixtureRequest) -> Serving:
    """Serve a gateway on a free port (yields its base URL); every test that serves runs on both servers
    (``make test-fast`` on granian only, the one production runs)."""
    return serve_with_uvicorn if request.param == "uvicorn" else serve_with_granian


@asynccontextmanager
async def direct(gateway: APIGateway, client_host: str = "127.0.0.1") -> AsyncIterator[httpx.AsyncClient]:
    """Call the ASGI app in-process as if from ``client_host`` (upstreams are still real HTTP)."""
    transport = httpx.ASGITransport(app=gateway.app, client=(client_host, 40000))
    async with gateway, httpx.AsyncClient(transport=transport, base_url="http://gateway") as client:
        yield client
