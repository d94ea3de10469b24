"""Replenishment end to end on the real stack, through the gateway: import a slice of the sample, run the plan,
see draft purchase orders with their reasons, approve one, receive part of it, and see the reorder alert clear."""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.stack import Stack, running_stack

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
SAMPLE = Path(__file__).resolve().parents[1] / "sync" / "data" / "online_retail_sample.csv"
TOKEN = secrets.token_urlsafe(24)
ADMIN = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with running_stack(tmp_path_factory.mktemp("replenish"), {"DEMO_DATA": "false", "ADMIN_TOKEN": TOKEN}) as up:
        yield up


def _slice(skus: int = 12) -> bytes:
    """The sample's lines for its first ``skus`` StockCodes (all their history)."""
    lines = SAMPLE.read_text().splitlines()
    keep: list[str] = []
    for line in lines[1:]:
        code = line.split(",")[1]
        if code not in keep:
            keep.append(code)
        if len(keep) > skus:
            break
    chosen = set(keep[:skus])
    return "\n".join([lines[0], *(ln for ln in lines[1:] if ln.split(",")[1] in chosen)]).encode() + b"\n"


def _level(base: str, sku: str) -> dict[str, int]:
    return requests.get(f"{base}/inventory/levels", params={"sku": sku}, timeout=10).json()["items"][0]


def test_plan_to_purchase_order_to_receipt_through_the_gateway(stack: Stack) -> None:
    base = stack.base
    imported = requests.post(f"{base}/inventory/imports", params={"location": "MAIN"}, data=_slice(),
                             headers=ADMIN | {"Content-Type": "text/csv"}, timeout=120)
    assert imported.status_code == 201, imported.text
    skus = [s["code"] for s in requests.get(f"{base}/inventory/skus", timeout=10).json()["items"]]
    assert len(skus) == 12
    assert requests.post(f"{base}/inventory/suppliers", json={"code": "ACME", "name": "Acme Ltd",
                                                              "lead_time_days": 14}, timeout=10).status_code == 201
    for code in skus:  # every SKU planned by the planner, bought from ACME
        resp = requests.patch(f"{base}/inventory/skus/{code}", json={"policy": "planner", "supplier": "ACME"},
                              timeout=10)
        assert resp.status_code == 200, resp.text

    plan = requests.post(f"{base}/ml/plan", json={"ordering_cost": 10}, timeout=300)
    assert plan.status_code == 200, plan.text
    body = plan.json()
    assert body["applied"]["levels_updated"] == 12 and body["proposals"], body["applied"]
    drafts = requests.get(f"{base}/inventory/purchase-orders", params={"status": "draft"}, timeout=10).json()["items"]
    assert [o["plan_id"] for o in drafts] == [body["plan_id"]] and drafts[0]["supplier"] == "ACME"
    order = drafts[0]
    line = order["lines"][0]
    sku = line["sku"]
    assert line["reason"]["reorder_point"] >= 0 and "fill rate" in line["reason"]["reason"]
    planned = {i["sku"]: i for i in body["items"]}[sku]
    assert requests.get(f"{base}/inventory/skus/{sku}", timeout=10).json()["reorder_point"] == int(
        -(-planned["reorder_point"] // 1))

    alerts = {a["sku"]: a for a in requests.get(f"{base}/analytics/reorder-alerts", timeout=60).json()["items"]}
    assert sku in alerts  # below its planned reorder point, nothing on order yet
    alert = alerts[sku]
    assert alert["plan_id"] == body["plan_id"] and alert["reorder_point_source"].startswith("plan ")
    assert alert["demand_source"].startswith("forecast (plan ") and alert["order_up_to_source"].startswith("plan ")
    assert alert["reorder_point"] == -(-planned["reorder_point"] // 1)
    assert alert["daily_demand"] == pytest.approx(planned["demand_per_period"] / 7)

    assert requests.post(f"{base}/inventory/purchase-orders/{order['id']}/approve", timeout=10).status_code == 200
    before = _level(base, sku)
    assert before["incoming"] == line["quantity"]
    part = max(line["quantity"] // 2, 1)
    key = {"Idempotency-Key": f"receipt-{order['id']}-1"}
    received = requests.post(f"{base}/inventory/purchase-orders/{order['id']}/receive", headers=key, timeout=10,
                             json={"lines": [{"sku": sku, "quantity": part}]})
    assert received.status_code == 200, received.text
    after = _level(base, sku)
    assert (after["on_hand"] - before["on_hand"], before["incoming"] - after["incoming"]) == (part, part)
    ledger = requests.get(f"{base}/inventory/movements", params={"sku": sku, "type": "receipt"}, timeout=10)
    assert [m["quantity"] for m in ledger.json()["items"] if m["reference"] == f"PO-{order['id']}"] == [part]
    replay = requests.post(f"{base}/inventory/purchase-orders/{order['id']}/receive", headers=key, timeout=10,
                           json={"lines": [{"sku": sku, "quantity": part}]})
    assert replay.status_code == 200 and replay.headers.get("Idempotent-Replayed") == "true"
    assert _level(base, sku) == after  # the replayed receipt changed nothing
    assert requests.get(f"{base}/inventory/reconciliation", timeout=30).json()["ok"] is True

    # on hand + on order is back above the reorder point (analytics may serve a read up to 5 s old)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        alerts = requests.get(f"{base}/analytics/reorder-alerts", timeout=60).json()["items"]
        if sku not in {a["sku"] for a in alerts}:
            break
        time.sleep(1)
    assert sku not in {a["sku"] for a in alerts}
