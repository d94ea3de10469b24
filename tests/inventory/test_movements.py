"""The movement API and its contract shapes, on SQLite and PostgreSQL."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.inventory.conftest import level, seed


def test_receipt_then_shipment_updates_level_and_ledger(client: TestClient) -> None:
    seed(client, on_hand=10, reorder_point=3)
    resp = client.post("/movements", json={"type": "shipment", "sku": "SKU-1", "location": "WH", "quantity": 4,
                                           "reference": "SO-1"}, headers={"X-Actor": "alice"})
    assert resp.status_code == 201
    body = resp.json()
    assert body["movement"]["quantity"] == -4
    assert body["movement"]["on_hand_after"] == 6
    assert body["movement"]["actor"] == "alice"
    assert body["movement"]["reference"] == "SO-1"
    assert body["level"] == level(client)
    assert body["level"]["available"] == 6
    ledger = client.get("/movements", params={"sku": "SKU-1"}).json()["items"]
    assert [m["type"] for m in ledger] == ["receipt", "shipment"]
    assert sum(m["quantity"] for m in ledger) == level(client)["on_hand"]


def test_short_stock_is_409_and_writes_nothing(client: TestClient) -> None:
    seed(client, on_hand=3)
    before = client.get("/movements").json()["items"]
    resp = client.post("/movements", json={"type": "shipment", "sku": "SKU-1", "location": "WH", "quantity": 4})
    assert resp.status_code == 409
    assert resp.json()["error"]["code"] == "insufficient_stock"
    assert "3 available" in resp.json()["error"]["message"]
    assert client.get("/movements").json()["items"] == before
    assert level(client)["on_hand"] == 3


def test_shipment_with_no_level_row_is_409(client: TestClient) -> None:
    seed(client)
    resp = client.post("/movements", json={"type": "shipment", "sku": "SKU-1", "location": "WH", "quantity": 1})
    assert resp.status_code == 409
    assert client.get("/movements").json()["items"] == []


def test_negative_stock_only_where_allowed(client: TestClient) -> None:
    seed(client)
    assert client.post("/locations", json={"code": "BACKORDER", "name": "Backorders",
                                           "allow_negative": True}).status_code == 201
    resp = client.post("/movements", json={"type": "shipment", "sku": "SKU-1", "location": "BACKORDER",
                                           "quantity": 5})
    assert resp.status_code == 201
    assert resp.json()["level"]["on_hand"] == -5
    assert client.get("/reconciliation").json()["ok"] is True


def test_transfer_is_a_paired_out_and_in(client: TestClient) -> None:
    seed(client, on_hand=10)
    client.post("/locations", json={"code": "STORE", "name": "Store"})
    resp = client.post("/movements", json={"type": "transfer", "sku": "SKU-1", "location": "WH",
                                           "to_location": "STORE", "quantity": 4})
    assert resp.status_code == 201
    out, inn = resp.json()["movements"]
    assert (out["type"], out["quantity"], inn["type"], inn["quantity"]) == ("transfer_out", -4, "transfer_in", 4)
    assert level(client)["on_hand"] == 6
    assert level(client, location="STORE")["on_hand"] == 4
    short = client.post("/movements", json={"type": "transfer", "sku": "SKU-1", "location": "STORE",
                                            "to_location": "WH", "quantity": 5})
    assert short.status_code == 409
    assert level(client, location="STORE")["on_hand"] == 4


def test_adjustment_needs_direction_and_reason(client: TestClient) -> None:
    seed(client, on_hand=10)
    down = client.post("/movements", json={"type": "adjustment", "sku": "SKU-1", "location": "WH", "quantity": 2,
                                           "direction": "decrease", "reason": "damaged"})
    assert down.status_code == 201
    assert down.json()["movement"]["quantity"] == -2
    assert down.json()["movement"]["reason"] == "damaged"
    up = client.post("/movements", json={"type": "adjustment", "sku": "SKU-1", "location": "WH", "quantity": 1,
                                         "direction": "increase", "reason": "found"})
    assert up.json()["level"]["on_hand"] == 9
    missing = client.post("/movements", json={"type": "adjustment", "sku": "SKU-1", "location": "WH",
                                              "quantity": 1, "reason": "found"})
    assert missing.status_code == 422
    assert "direction" in missing.json()["error"]["message"]


def test_return_adds_stock(client: TestClient) -> None:
    seed(client, on_hand=1)
    resp = client.post("/movements", json={"type": "return", "sku": "SKU-1", "location": "WH", "quantity": 2})
    assert resp.json()["movement"]["quantity"] == 2
    assert level(client)["on_hand"] == 3


def test_movement_filters_and_cursor_pagination(client: TestClient) -> None:
    seed(client, on_hand=100)
    for _ in range(5):
        client.post("/movements", json={"type": "shipment", "sku": "SKU-1", "location": "WH", "quantity": 1})
    seen: list[int] = []
    cursor = None
    while True:
        params = {"limit": 2, "type": "shipment"} | ({"cursor": cursor} if cursor else {})
        page = client.get("/movements", params=params).json()
        seen += [m["id"] for m in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == 5 == len(set(seen))
    assert seen == sorted(seen)
    assert client.get("/movements", params={"until": "2000-01-01T00:00:00Z"}).json()["items"] == []


def test_sku_and_location_contract_shapes(client: TestClient) -> None:
    seed(client)
    sku = client.get("/skus/SKU-1").json()
    assert set(sku) == {"code", "name", "unit", "unit_cost", "price", "reorder_point", "min_qty", "max_qty",
                        "supplier", "lead_time_days", "order_up_to", "ordering_cost", "policy", "created_at"}
    assert sku["price"] == 2.5
    assert client.get("/skus").json()["items"] == [sku]
    assert client.get("/locations").json() == {"items": [{"code": "WH", "name": "WH", "allow_negative": False}],
                                               "next_cursor": None}
    assert client.get("/skus/NOPE").status_code == 404
    dup = client.post("/skus", json={"code": "SKU-1", "name": "again"})
    assert dup.status_code == 409
