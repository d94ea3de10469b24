"""Events, reconciliation and demand history."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from sync.inventory.db import make_engine
from tests.inventory.conftest import seed


def _move(client: TestClient, type_: str, qty: int) -> None:
    resp = client.post("/movements", json={"type": type_, "sku": "SKU-1", "location": "WH", "quantity": qty})
    assert resp.status_code == 201, resp.text


def test_events_follow_every_change_in_order(client: TestClient) -> None:
    seed(client, on_hand=10, reorder_point=4)
    _move(client, "shipment", 6)   # available 10 -> 4: crosses the reorder point
    _move(client, "shipment", 4)   # 4 -> 0: out of stock
    page = client.get("/events", params={"after": 0, "limit": 1000}).json()
    types = [e["type"] for e in page["items"]]
    assert types.count("movement.created") == 3
    assert types.count("level.changed") == 3
    assert types.count("low_stock") == 1
    assert types.count("out_of_stock") == 1
    ids = [e["id"] for e in page["items"]]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    assert page["next_after"] == ids[-1]
    assert client.get("/events", params={"after": page["next_after"]}).json()["items"] == []
    _move(client, "receipt", 1)
    newer = client.get("/events", params={"after": page["next_after"]}).json()["items"]
    assert [e["type"] for e in newer] == ["movement.created", "level.changed"]
    assert newer[0]["payload"]["quantity"] == 1


def test_reconciliation_reports_drift(client: TestClient, db_url: str) -> None:
    seed(client, on_hand=10)
    assert client.get("/reconciliation").json() == {"checked": 1, "drift": [], "negative_available": [],
                                                    "ledger_without_level": 0, "ok": True}
    engine = make_engine(db_url)
    with engine.begin() as conn:  # tamper with the cache behind the service's back
        conn.execute(text("UPDATE stock_levels SET on_hand = on_hand + 3"))
    engine.dispose()
    report = client.get("/reconciliation").json()
    assert report["ok"] is False
    assert report["drift"] == [{"sku": "SKU-1", "location": "WH", "on_hand": 13, "ledger_on_hand": 10,
                                "reserved": 0, "active_reservations": 0}]


def test_demand_history_counts_shipments_net_of_returns_with_zero_weeks(client: TestClient) -> None:
    seed(client, on_hand=100)
    client.post("/skus", json={"code": "IDLE", "name": "never sold"})
    _move(client, "shipment", 7)
    _move(client, "return", 2)
    _move(client, "receipt", 50)
    hist = client.get("/demand-history", params={"freq": "W", "start": "2020-01-01"}).json()
    assert hist["freq"] == "W-SUN"
    by_sku: dict[str, list[dict[str, object]]] = {}
    for item in hist["items"]:
        by_sku.setdefault(str(item["sku"]), []).append(item)
    assert set(by_sku) == {"IDLE", "SKU-1"}
    sold = by_sku["SKU-1"]
    assert sold[0]["date"] == "2020-01-05"  # the Sunday ending the start's week
    assert sum(int(i["quantity"]) for i in sold) == 5  # type: ignore[call-overload]
    assert sum(1 for i in sold if i["quantity"] == 0) == len(sold) - 1
    assert all(i["quantity"] == 0 for i in by_sku["IDLE"])
    assert len(by_sku["IDLE"]) == len(sold)
    one = client.get("/demand-history", params={"sku": "SKU-1"}).json()["items"]
    assert one == [{"sku": "SKU-1", "date": sold[-1]["date"], "quantity": 5, "orders": 1}]


def test_demand_history_counts_distinct_orders_per_period(client: TestClient) -> None:
    """Two lines of one invoice are one order; a shipment without a reference is an order of its own."""
    seed(client, on_hand=100)
    for reference, quantity in (("INV-1", 3), ("INV-1", 2), ("INV-2", 40), (None, 1)):
        body = {"type": "shipment", "sku": "SKU-1", "location": "WH", "quantity": quantity}
        if reference:
            body["reference"] = reference
        assert client.post("/movements", json=body).status_code == 201
    _move(client, "return", 1)
    [week] = client.get("/demand-history", params={"sku": "SKU-1"}).json()["items"]
    assert week["quantity"] == 45 and week["orders"] == 3


def test_event_payloads_equal_the_api_shapes(client: TestClient) -> None:
    seed(client, on_hand=10, reorder_point=2)
    for _ in range(3):  # later requests take the PostgreSQL single-statement path; payloads must not change
        resp = client.post("/movements", json={"type": "shipment", "sku": "SKU-1", "location": "WH", "quantity": 1,
                                               "reference": "SO-7"}, headers={"X-Actor": "bob"}).json()
        events = client.get("/events", params={"limit": 1000}).json()["items"]
        created = [e["payload"] for e in events if e["type"] == "movement.created"][-1]
        changed = [e["payload"] for e in events if e["type"] == "level.changed"][-1]
        assert created == resp["movement"]
        assert {k: v for k, v in changed.items() if k != "cause"} == resp["level"]
        assert changed["cause"] == {"movement_id": resp["movement"]["id"], "type": "shipment"}


@pytest.mark.slow
def test_event_followers_never_skip_a_late_commit(postgres_url: str) -> None:
    """A transaction that wrote an event earlier but commits later is not skipped by a follower."""
    from datetime import UTC, datetime

    from sync.inventory.app import create_app
    from sync.inventory.events import event_row, write_events
    from tests.inventory.conftest import settings_for

    with TestClient(create_app(settings_for(postgres_url))) as client:
        seed(client, on_hand=10)
        page = client.get("/events", params={"limit": 1000}).json()
        after = page["next_after"]
        engine = make_engine(postgres_url)
        slow = engine.connect()
        slow.begin()
        write_events(slow, [event_row("level.changed", {"slow": True}, datetime.now(UTC))])  # not committed
        _move(client, "shipment", 1)  # commits its events while the slow writer is still open
        early = client.get("/events", params={"after": after}).json()
        assert all(e["payload"].get("slow") is None for e in early["items"])
        slow.commit()
        slow.close()
        engine.dispose()
        seen = early["items"] + client.get("/events", params={"after": early["next_after"]}).json()["items"]
        types = [e["type"] for e in seen]
        assert sorted(types) == ["level.changed", "level.changed", "movement.created"]
        assert any(e["payload"].get("slow") for e in seen)
        assert [e["id"] for e in seen] == sorted(e["id"] for e in seen)
