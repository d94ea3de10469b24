"""The inventory client's error boundary, against a real inventory service and a real hung socket."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from sync.analytics.client import InventoryClient, UpstreamContractError
from sync.errors import UpstreamUnavailable
from sync.inventory.app import create_app as create_inventory
from sync.settings import Settings
from tests.serving import free_port, running


@pytest.fixture(scope="module")
def inventory_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    db = Path(tmp_path_factory.mktemp("client")) / "inventory.db"
    with running(create_inventory(Settings(DATABASE_URL=f"sqlite:///{db}", DEMO_DATA=False)), free_port()) as url:
        yield url


@pytest.fixture
def silent_server() -> Iterator[str]:
    """A TCP server that accepts connections and never answers (a hung upstream)."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        listener.close()


def _call(url: str, path: str, params: dict[str, str] | None = None,
          timeout: httpx.Timeout | None = None) -> object:
    async def go() -> object:
        client = InventoryClient(url, **({"timeout": timeout} if timeout else {}))
        try:
            return await client.get_json(path, params)
        finally:
            await client.aclose()

    return asyncio.run(go())


@pytest.mark.slow
def test_a_request_the_inventory_service_refuses_is_a_502_not_an_outage(inventory_url: str) -> None:
    with pytest.raises(UpstreamContractError) as caught:
        _call(inventory_url, "/movements", {"since": "not-a-date"})
    assert caught.value.status == 502
    assert caught.value.details["status"] == 422
    assert "inventory service" in caught.value.message
    # neither the internal address nor the upstream's own error text reaches a client
    assert inventory_url not in str(caught.value.to_dict()) and "since" not in str(caught.value.to_dict())


def test_an_unknown_path_is_a_502(inventory_url: str) -> None:
    with pytest.raises(UpstreamContractError):
        _call(inventory_url, "/no-such-list")


@pytest.mark.slow
def test_a_hung_upstream_times_out_into_a_503(silent_server: str) -> None:
    with pytest.raises(UpstreamUnavailable) as caught:
        _call(silent_server, "/skus", timeout=httpx.Timeout(0.5))
    assert "in time" in caught.value.message and silent_server not in str(caught.value.to_dict())
    assert caught.value.to_dict()["error"]["code"] == "service_unavailable"


@pytest.mark.slow
def test_health_of_a_hung_upstream_is_down(silent_server: str) -> None:
    async def go() -> dict[str, object]:
        client = InventoryClient(silent_server)
        try:
            return await client.health()
        finally:
            await client.aclose()

    report = asyncio.run(go())
    assert report["status"] == "down" and report["url"] == silent_server
