"""Suppliers, purchase orders and SKU upkeep, on SQLite and on real PostgreSQL."""

from __future__ import annotations

import threading

import httpx
import pytest
from fastapi.testclient import TestClient

from tests.inventory.conftest import LiveServer, seed


def _setup(client: TestClient | httpx.Client, on_hand: int = 5) -> int:
    seed(client, sku="PO-A", on_hand=on_hand, reorder_point=10)
    seed(client, sku="PO-B")
    assert client.post("/suppliers", json={"code": "ACME", "name": "Acme Ltd", "lead_time_days": 7}).status_code == 201
    resp = client.post("/purchase-orders", json={
        "supplier": "ACME", "location": "WH", "reference": "plan-1",
        "lines": [{"sku": "PO-A", "quantity": 20, "unit_cost": "1.20",
                   "reason": {"position": 5, "reorder_point": 10}},
                  {"sku": "PO-B", "quantity": 4}]})
    assert resp.status_code == 201, resp.text
    order = resp.json()
    assert order["status"] == "draft" and order["value"] == pytest.approx(24.0)
    assert order["lines"][0]["reason"] == {"position": 5, "reorder_point": 10}
    return int(order["id"])


def _level(client: TestClient | httpx.Client, sku: str) -> dict[str, int]:
    return client.get("/levels", params={"sku": sku, "location": "WH"}).json()["items"][0]


def _ledger(client: TestClient | httpx.Client, sku: str) -> list[dict[str, object]]:
    return client.get("/movements", params={"sku": sku}).json()["items"]


@pytest.mark.slow
def test_order_lifecycle_moves_incoming_then_stock(client: TestClient) -> None:
    po = _setup(client)
    assert _level(client, "PO-A")["incoming"] == 0  # a draft is not on order yet
    assert client.patch(f"/purchase-orders/{po}", json={"lines": [{"sku": "PO-B", "quantity": 6}]}).status_code == 200
    assert client.post(f"/purchase-orders/{po}/approve").json()["status"] == "approved"
    assert _level(client, "PO-A")["incoming"] == 20
    assert _level(client, "PO-B")["incoming"] == 6
    assert client.post(f"/purchase-orders/{po}/send").json()["status"] == "sent"

    part = client.post(f"/purchase-orders/{po}/receive", headers={"Idempotency-Key": "rcv-1"},
                       json={"lines": [{"sku": "PO-A", "quantity": 8}]})
    assert part.status_code == 200, part.text
    assert part.json()["status"] == "partially_received"
    level = _level(client, "PO-A")
    assert (level["on_hand"], level["incoming"]) == (13, 12)
    receipts = [m for m in _ledger(client, "PO-A") if m["reference"] == f"PO-{po}"]
    assert [(m["type"], m["quantity"]) for m in receipts] == [("receipt", 8)]

    replay = client.post(f"/purchase-orders/{po}/receive", headers={"Idempotency-Key": "rcv-1"},
                         json={"lines": [{"sku": "PO-A", "quantity": 8}]})
    assert replay.status_code == 200 and replay.headers["Idempotent-Replayed"] == "true"
    assert _level(client, "PO-A")["on_hand"] == 13  # the replayed receipt changed nothing

    done = client.post(f"/purchase-orders/{po}/receive", json={"lines": [{"sku": "PO-A", "quantity": 12},
                                                                       {"sku": "PO-B", "quantity": 6}]})
    assert done.json()["status"] == "received"
    assert (_level(client, "PO-A")["incoming"], _level(client, "PO-B")["on_hand"]) == (0, 6)
    assert client.get("/reconciliation").json()["ok"] is True
    types = [e["type"] for e in client.get("/events", params={"limit": 1000}).json()["items"]]
    for event in ("supplier.created", "po.created", "po.updated", "po.approved", "po.sent", "po.received"):
        assert event in types, event
    supplier = client.get("/suppliers/ACME").json()
    assert supplier["observed_lead_time"]["orders"] == 1
    assert supplier["observed_lead_time"]["mean_days"] >= 0


@pytest.mark.slow
def test_receiving_more_than_ordered_writes_nothing(client: TestClient) -> None:
    po = _setup(client)
    client.post(f"/purchase-orders/{po}/approve")
    before = (_level(client, "PO-A"), len(_ledger(client, "PO-A")))
    resp = client.post(f"/purchase-orders/{po}/receive", json={"lines": [{"sku": "PO-B", "quantity": 4},
                                                                      {"sku": "PO-A", "quantity": 21}]})
    assert resp.status_code == 409, resp.text
    assert resp.json()["error"]["details"]["field"] == "lines[1].quantity"
    assert (_level(client, "PO-A"), len(_ledger(client, "PO-A"))) == before
    assert _level(client, "PO-B")["on_hand"] == 0  # the good first line was rolled back too
    assert client.get(f"/purchase-orders/{po}").json()["lines"][1]["received"] == 0


def test_cancelled_and_draft_orders_cannot_be_received(client: TestClient) -> None:
    po = _setup(client)
    draft = client.post(f"/purchase-orders/{po}/receive", json={"lines": [{"sku": "PO-A", "quantity": 1}]})
    assert draft.status_code == 409 and draft.json()["error"]["details"]["status"] == "draft"
    client.post(f"/purchase-orders/{po}/approve")
    client.post(f"/purchase-orders/{po}/receive", json={"lines": [{"sku": "PO-A", "quantity": 5}]})
    cancelled = client.post(f"/purchase-orders/{po}/cancel")
    assert cancelled.json()["status"] == "cancelled"
    assert _level(client, "PO-A")["incoming"] == 0 and _level(client, "PO-B")["incoming"] == 0
    again = client.post(f"/purchase-orders/{po}/receive", json={"lines": [{"sku": "PO-A", "quantity": 1}]})
    assert again.status_code == 409 and again.json()["error"]["details"]["status"] == "cancelled"
    assert client.post(f"/purchase-orders/{po}/approve").status_code == 409
    assert client.get("/reconciliation").json()["ok"] is True


@pytest.mark.parametrize(("body", "field"), [
    ({"supplier": "NOPE", "location": "WH", "lines": [{"sku": "PO-A", "quantity": 1}]}, "supplier"),
    ({"supplier": "ACME", "location": "WH", "lines": [{"sku": "NOPE", "quantity": 1}]}, "lines[0].sku"),
    ({"supplier": "ACME", "location": "NOPE", "lines": [{"sku": "PO-A", "quantity": 1}]}, "location"),
    ({"supplier": "ACME", "location": "WH", "lines": [{"sku": "PO-A", "quantity": 0}]}, "quantity"),
    ({"supplier": "ACME", "location": "WH", "lines": [{"sku": "PO-A", "quantity": 1, "unit_cost": "-1"}]},
     "unit_cost"),
    ({"supplier": "ACME", "location": "WH", "lines": []}, "lines"),
])
def test_bad_orders_name_the_field_and_write_nothing(client: TestClient, body: dict[str, object], field: str) -> None:
    _setup(client)
    before = client.get("/purchase-orders").json()["items"]
    resp = client.post("/purchase-orders", json=body)
    assert resp.status_code == 422, resp.text
    assert field in resp.text
    assert client.get("/purchase-orders").json()["items"] == before


@pytest.mark.slow
def test_patch_sku_records_the_change_and_refuses_bad_values(client: TestClient) -> None:
    _setup(client)
    resp = client.patch("/skus/PO-A", headers={"X-Actor": "planner-1"},
                        json={"reorder_point": 12, "order_up_to": 40, "policy": "planner", "supplier": "ACME",
                              "ordering_cost": "10"})
    assert resp.status_code == 200, resp.text
    assert resp.json()["changes"]["reorder_point"] == [10, 12]
    sku = client.get("/skus/PO-A").json()
    assert (sku["reorder_point"], sku["order_up_to"], sku["policy"], sku["supplier"]) == (12, 40, "planner", "ACME")
    history = client.get("/skus/PO-A/changes").json()["items"]
    assert history[0]["actor"] == "planner-1" and history[0]["changes"]["order_up_to"] == [None, 40]
    for body, field in (({"unit_cost": "-1"}, "unit_cost"), ({"order_up_to": 5}, "order_up_to"),
                        ({"supplier": "NOPE"}, "supplier"), ({"policy": "magic"}, "policy"), ({}, "at least one"),
                        ({"reorder_point": "7"}, "reorder_point")):
        bad = client.patch("/skus/PO-A", json=body)
        assert bad.status_code == 422, (body, bad.text)
        assert field in bad.text
    assert client.patch("/skus/NOPE", json={"reorder_point": 1}).status_code == 404
    assert client.get("/skus/PO-A").json()["order_up_to"] == 40  # nothing half-written
    # the new reorder point drives the low-stock events of later movements
    client.post("/movements", json={"type": "receipt", "sku": "PO-A", "location": "WH", "quantity": 10})  # 15
    client.post("/movements", json={"type": "shipment", "sku": "PO-A", "location": "WH", "quantity": 4})  # 11
    low = [e for e in client.get("/events", params={"limit": 1000}).json()["items"] if e["type"] == "low_stock"]
    assert low and low[-1]["payload"]["reorder_point"] == 12


@pytest.mark.postgres
@pytest.mark.slow
def test_concurrent_receipts_never_exceed_the_order(postgres_url: str, port: int) -> None:
    from tests.inventory.conftest import settings_for

    with LiveServer(settings_for(postgres_url), port) as server, httpx.Client(base_url=server.url,
                                                                              timeout=30) as client:
        po = _setup(client, on_hand=0)
        client.post(f"/purchase-orders/{po}/approve")
        statuses: list[int] = []

        def receive() -> None:
            with httpx.Client(base_url=server.url, timeout=30) as own:
                statuses.append(own.post(f"/purchase-orders/{po}/receive",
                                         json={"lines": [{"sku": "PO-A", "quantity": 3}]}).status_code)

        threads = [threading.Thread(target=receive) for _ in range(12)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert statuses.count(200) == 6 and statuses.count(409) == 6  # 20 ordered: six receipts of 3 fit
        level = _level(client, "PO-A")
        assert (level["on_hand"], level["incoming"]) == (18, 2)
        assert client.get("/reconciliation").json()["ok"] is True
