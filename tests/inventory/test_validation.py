"""Bad input gets a 4xx naming the problem and writes nothing (SQLite and PostgreSQL)."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from tests.inventory.conftest import seed

GOOD = {"type": "shipment", "sku": "SKU-1", "location": "WH", "quantity": 1}


def _ledger_and_levels(client: TestClient) -> tuple[object, object, object]:
    return (client.get("/movements").json(), client.get("/levels").json(),
            client.get("/events", params={"limit": 1000}).json()["items"])


INVALID = [
    ({"sku": "NOPE"}, 422, "unknown SKU"),
    ({"location": "NOWHERE"}, 422, "unknown location"),
    ({"quantity": 0}, 422, "quantity"),
    ({"quantity": -3}, 422, "quantity"),
    ({"quantity": "ten"}, 422, "quantity"),
    ({"quantity": 1.5}, 422, "quantity"),
    ({"quantity": None}, 422, "quantity"),
    ({"quantity": True}, 422, "boolean"),
    ({"quantity": 10**12}, 422, "quantity"),
    ({"type": "teleport"}, 422, "type"),
    ({"type": "transfer", "to_location": "WH"}, 422, "to_location must differ"),
    ({"type": "transfer"}, 422, "to_location is required"),
    ({"type": "transfer", "to_location": "NOWHERE"}, 422, "unknown location"),
    ({"bogus": 1}, 422, "bogus"),
    ({"sku": "bad code/with slash"}, 422, "sku"),
]


@pytest.mark.slow
def test_invalid_movement_is_refused_and_writes_nothing(client: TestClient) -> None:
    seed(client, on_hand=5)
    before = _ledger_and_levels(client)
    for change, status, named in INVALID:  # one app per database for all cases keeps the suite fast
        resp = client.post("/movements", json=GOOD | change)
        assert resp.status_code == status, (change, resp.text)
        error = resp.json()["error"]
        assert named in error["message"] or named in str(error["details"]), (change, error)
        assert _ledger_and_levels(client) == before, change
    assert client.post("/movements", json=GOOD).status_code == 201  # and the valid request still works


def test_non_json_and_oversize_bodies(client: TestClient) -> None:
    seed(client, on_hand=5)
    before = _ledger_and_levels(client)
    garbage = client.post("/movements", content=b"{not json", headers={"content-type": "application/json"})
    assert garbage.status_code == 422
    limit = client.app.state.settings.MAX_REQUEST_BYTES  # type: ignore[attr-defined]
    huge = client.post("/movements", json=GOOD | {"reference": "x" * (limit + 10)})
    assert huge.status_code == 413
    assert huge.json()["error"]["code"] == "payload_too_large"
    long_ref = client.post("/movements", json=GOOD | {"reference": "x" * 201})
    assert long_ref.status_code == 422
    assert "reference" in long_ref.json()["error"]["message"]
    assert _ledger_and_levels(client) == before


@pytest.mark.slow
def test_invalid_reservation_and_idempotency_key(client: TestClient) -> None:
    seed(client, on_hand=5)
    before = _ledger_and_levels(client)
    assert client.post("/reservations", json={"sku": "SKU-1", "location": "WH", "quantity": 0}).status_code == 422
    assert client.post("/reservations", json={"sku": "SKU-1", "location": "WH", "quantity": 6}).status_code == 409
    bad_key = client.post("/movements", json=GOOD, headers={"Idempotency-Key": "k" * 300})
    assert bad_key.status_code == 422
    assert "Idempotency-Key" in bad_key.json()["error"]["message"]
    assert client.post("/reservations/nope/commit").status_code == 404
    assert _ledger_and_levels(client) == before


def test_bad_query_parameters(client: TestClient) -> None:
    seed(client)
    assert client.get("/movements", params={"limit": 0}).status_code == 422
    assert client.get("/movements", params={"limit": 1001}).status_code == 422
    assert client.get("/movements", params={"cursor": "abc"}).status_code == 422
    assert client.get("/movements", params={"type": "nope"}).status_code == 422
    assert client.get("/levels", params={"sku": "NOPE"}).status_code == 422
    assert client.get("/demand-history", params={"freq": "fortnightly"}).status_code == 422
    assert client.get("/events", params={"after": -1}).status_code == 422
