"""Idempotency-Key on every POST: replays return the first response and change nothing."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from fastapi.testclient import TestClient

from tests.inventory.conftest import LiveServer, level, seed
from tests.inventory.test_concurrency import _fire

SHIP = {"type": "shipment", "sku": "SKU-1", "location": "WH", "quantity": 2}


@pytest.mark.slow
def test_1000_replays_change_nothing(live: LiveServer) -> None:
    with httpx.Client(base_url=live.url) as base:
        seed(base, on_hand=100)
        first = base.post("/movements", json=SHIP, headers={"Idempotency-Key": "order-1"})
        assert first.status_code == 201
        snapshot = (level(base), base.get("/movements").json(), base.get("/events").json())
        for _ in range(1000):
            replay = base.post("/movements", json=SHIP, headers={"Idempotency-Key": "order-1"})
            assert replay.status_code == 201
            assert replay.json() == first.json()
            assert replay.headers["Idempotent-Replayed"] == "true"
        assert (level(base), base.get("/movements").json(), base.get("/events").json()) == snapshot
        assert level(base)["on_hand"] == 98


@pytest.mark.slow
def test_concurrent_first_attempts_with_one_key_apply_once(live: LiveServer) -> None:
    with httpx.Client(base_url=live.url) as base:
        seed(base, on_hand=100)
        responses = asyncio.run(_fire(live.url, "/movements", [SHIP] * 50,
                                      [{"Idempotency-Key": "same"} for _ in range(50)]))
        assert {r.status_code for r in responses} == {201}
        assert len({r.json()["movement"]["id"] for r in responses}) == 1
        assert level(base)["on_hand"] == 98
        assert len(base.get("/movements", params={"type": "shipment"}).json()["items"]) == 1


def test_same_key_different_body_is_409(client: TestClient) -> None:
    seed(client, on_hand=10)
    assert client.post("/movements", json=SHIP, headers={"Idempotency-Key": "k"}).status_code == 201
    clash = client.post("/movements", json=SHIP | {"quantity": 3}, headers={"Idempotency-Key": "k"})
    assert clash.status_code == 409
    assert clash.json()["error"]["code"] == "idempotency_key_reused"
    other_path = client.post("/reservations", json={"sku": "SKU-1", "location": "WH", "quantity": 1},
                             headers={"Idempotency-Key": "k"})
    assert other_path.status_code == 409
    assert level(client)["on_hand"] == 8
    assert level(client)["reserved"] == 0


@pytest.mark.slow
def test_refusal_is_replayed_too(client: TestClient) -> None:
    seed(client, on_hand=1)
    first = client.post("/movements", json=SHIP, headers={"Idempotency-Key": "short"})
    assert first.status_code == 409
    client.post("/movements", json={"type": "receipt", "sku": "SKU-1", "location": "WH", "quantity": 10})
    again = client.post("/movements", json=SHIP, headers={"Idempotency-Key": "short"})
    assert (again.status_code, again.json()) == (409, first.json())
    assert level(client)["on_hand"] == 11


def test_every_post_accepts_a_key(client: TestClient) -> None:
    for path, body in [("/skus", {"code": "K1", "name": "k"}), ("/locations", {"code": "L1", "name": "l"})]:
        first = client.post(path, json=body, headers={"Idempotency-Key": path})
        again = client.post(path, json=body, headers={"Idempotency-Key": path})
        assert first.status_code == again.status_code == 201
        assert first.json() == again.json()
    client.post("/movements", json={"type": "receipt", "sku": "K1", "location": "L1", "quantity": 5})
    reservation = client.post("/reservations", json={"sku": "K1", "location": "L1", "quantity": 2},
                              headers={"Idempotency-Key": "r1"}).json()["reservation"]
    assert client.post("/reservations", json={"sku": "K1", "location": "L1", "quantity": 2},
                       headers={"Idempotency-Key": "r1"}).json()["reservation"]["id"] == reservation["id"]
    path = f"/reservations/{reservation['id']}/commit"
    first = client.post(path, headers={"Idempotency-Key": "c1"})
    again = client.post(path, headers={"Idempotency-Key": "c1"})
    assert first.status_code == again.status_code == 200
    assert first.json() == again.json()
    no_key = client.post(path)
    assert no_key.status_code == 409  # committing twice without a key is refused, not applied twice
    assert level(client, "K1", "L1")["on_hand"] == 3
