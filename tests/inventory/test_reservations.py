"""Reservations: commit ships, release gives back, expiry is released by the service's own sweeper."""

from __future__ import annotations

import time

import httpx
import pytest
from fastapi.testclient import TestClient

from tests.inventory.conftest import LiveServer, level, seed


def test_commit_ships_the_reserved_units(client: TestClient) -> None:
    seed(client, on_hand=10)
    made = client.post("/reservations", json={"sku": "SKU-1", "location": "WH", "quantity": 4,
                                              "reference": "cart-9"})
    assert made.status_code == 201
    rid = made.json()["reservation"]["id"]
    assert level(client)["available"] == 6
    committed = client.post(f"/reservations/{rid}/commit")
    assert committed.status_code == 200
    assert committed.json()["movement"]["type"] == "shipment"
    assert committed.json()["movement"]["quantity"] == -4
    assert (level(client)["on_hand"], level(client)["reserved"]) == (6, 0)
    assert client.post(f"/reservations/{rid}/release").status_code == 409
    assert client.get(f"/reservations/{rid}").json()["status"] == "committed"


def test_release_returns_units_to_available(client: TestClient) -> None:
    seed(client, on_hand=10)
    rid = client.post("/reservations", json={"sku": "SKU-1", "location": "WH", "quantity": 10}).json()[
        "reservation"]["id"]
    assert level(client)["available"] == 0
    assert client.post(f"/reservations/{rid}/release").status_code == 200
    assert (level(client)["on_hand"], level(client)["available"]) == (10, 10)
    assert client.post(f"/reservations/{rid}/commit").status_code == 409
    assert client.get("/movements", params={"type": "shipment"}).json()["items"] == []


@pytest.mark.slow
def test_expired_reservations_are_released_by_the_service(live: LiveServer) -> None:
    with httpx.Client(base_url=live.url) as base:
        seed(base, on_hand=5)
        rid = base.post("/reservations", json={"sku": "SKU-1", "location": "WH", "quantity": 5,
                                               "ttl_seconds": 0.5}).json()["reservation"]["id"]
        deadline = time.monotonic() + 20  # the sweeper runs every second; wait for it, bounded
        while base.get(f"/reservations/{rid}").json()["status"] == "active" and time.monotonic() < deadline:
            time.sleep(0.1)
        assert base.get(f"/reservations/{rid}").json()["status"] == "expired"
        assert level(base)["available"] == 5
        assert base.post(f"/reservations/{rid}/commit").status_code == 409
        assert base.get("/reconciliation").json()["ok"] is True
        kinds = [e["type"] for e in base.get("/events", params={"limit": 1000}).json()["items"]]
        assert "reservation.expired" in kinds
