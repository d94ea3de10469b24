"""The one inventory client's error boundary, against a real inventory service, a real hung socket and a
real server that fails: what the analytics and ML services answer when the inventory service misbehaves."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.responses import PlainTextResponse

from sync.clients.inventory import InventoryClient, UpstreamContractError
from sync.errors import NotFound, UpstreamUnavailable
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


@pytest.fixture(scope="module")
def failing_url() -> Iterator[str]:
    """An upstream whose every answer is a 500 with a database error in it, or a 200 that is not JSON."""
    app = FastAPI()

    @app.get("/health")
    def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/skus")
    def skus() -> PlainTextResponse:
        return PlainTextResponse("psycopg.OperationalError: connection to 10.0.0.7 refused", status_code=500)

    @app.get("/demand-history")
    def demand() -> PlainTextResponse:
        return PlainTextResponse("<html>maintenance</html>")

    with running(app, free_port()) as url:
        yield url


def _call(url: str, what: str = "get_json", *args: Any, timeout: float = 10.0, **kwargs: Any) -> Any:
    with InventoryClient(url, timeout=timeout) as client:
        return getattr(client, what)(*args, **kwargs)


def _public(error: Exception) -> str:
    assert isinstance(error, UpstreamUnavailable | UpstreamContractError | NotFound)
    return str(error.to_dict())


def test_a_request_the_inventory_service_refuses_is_a_502_not_an_outage(inventory_url: str) -> None:
    with pytest.raises(UpstreamContractError) as caught:
        _call(inventory_url, "get_json", "/movements", {"since": "not-a-date"})
    assert caught.value.status == 502
    assert caught.value.details["status"] == 422
    assert "inventory service" in caught.value.message
    # neither the internal address nor the upstream's own error text reaches a client
    assert inventory_url not in _public(caught.value) and "since" not in _public(caught.value)


def test_an_unknown_path_is_a_502(inventory_url: str) -> None:
    with pytest.raises(UpstreamContractError):
        _call(inventory_url, "get_json", "/no-such-list")


def test_an_unknown_sku_is_a_404_naming_it_for_reads_and_writes(inventory_url: str) -> None:
    with pytest.raises(NotFound) as read:
        _call(inventory_url, "demand_history", sku="NO-SUCH-SKU")
    assert read.value.status == 404 and read.value.details == {"field": "sku", "sku": "NO-SUCH-SKU"}
    with pytest.raises(NotFound) as write:
        _call(inventory_url, "request", "PATCH", "/skus/NO-SUCH-SKU", sku="NO-SUCH-SKU", json={"reorder_point": 1})
    assert "NO-SUCH-SKU" in write.value.message and inventory_url not in _public(write.value)


def test_a_hung_upstream_times_out_into_a_503(silent_server: str) -> None:
    with pytest.raises(UpstreamUnavailable) as caught:
        _call(silent_server, "skus", timeout=0.5)
    assert "in time" in caught.value.message and silent_server not in _public(caught.value)
    assert caught.value.to_dict()["error"]["code"] == "service_unavailable"


def test_an_unreachable_upstream_is_a_503_naming_the_service_not_its_address() -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(UpstreamUnavailable) as caught:
        _call(dead, "events", after=0, limit=10)
    assert caught.value.status == 503 and "inventory service" in caught.value.message
    assert dead not in _public(caught.value)


def test_a_failing_upstream_is_a_503_without_its_error_text(failing_url: str) -> None:
    with pytest.raises(UpstreamUnavailable) as caught:
        _call(failing_url, "skus")
    assert caught.value.status == 503 and caught.value.details["status"] == 500
    assert "10.0.0.7" not in _public(caught.value) and failing_url not in _public(caught.value)


def test_a_body_that_is_not_json_is_a_502(failing_url: str) -> None:
    with pytest.raises(UpstreamContractError) as caught:
        _call(failing_url, "demand_history")
    assert caught.value.status == 502 and "not JSON" in caught.value.message


def test_health_of_a_hung_upstream_is_down(silent_server: str) -> None:
    report = _call(silent_server, "health")
    assert report["status"] == "down" and report["url"] == silent_server


def test_the_services_use_their_own_inventory_timeout_not_the_gateways() -> None:
    settings = Settings(INVENTORY_TIMEOUT=7, GATEWAY_TIMEOUT=90)
    with InventoryClient.from_settings(settings) as client:
        assert client.timeout.read == 7 and client.timeout.connect == 2
