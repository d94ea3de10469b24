"""Lead time learnt from purchase orders: the rows derived from orders, and the switch from the synthetic
start-up rows to the orders once enough are received (real inventory service over HTTP)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from sync.inventory.app import create_app as create_inventory_app
from sync.inventory.purchasing import orders as po_module
from sync.ml.lead_time import order_rows
from sync.ml.service import create_app
from sync.settings import Settings
from tests.ml.servers import Client, serving

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def _order(po_id: int, supplier: str, sent: datetime, days: float, expected_days: int, qty: int) -> dict[str, Any]:
    return {"id": po_id, "supplier": supplier, "status": "received", "sent_at": sent.isoformat(),
            "closed_at": (sent + timedelta(days=days)).isoformat(),
            "expected_at": (sent + timedelta(days=expected_days)).date().isoformat(),
            "lines": [{"sku": "A", "quantity": qty}]}


def test_order_rows_take_lead_time_quantity_and_only_past_punctuality() -> None:
    orders = [_order(1, "FAST", T0, 2, 5, 10),
              _order(2, "SLOW", T0 + timedelta(days=1), 20, 5, 30),
              _order(3, "FAST", T0 + timedelta(days=10), 2.5, 5, 40),
              _order(4, "SLOW", T0 + timedelta(days=30), 19, 5, 7),
              _order(5, "FAST", T0 + timedelta(days=40), 1, 5, 8),
              {"id": 6, "supplier": "FAST", "status": "received", "sent_at": None, "closed_at": None, "lines": []}]
    rows = order_rows(orders)
    assert len(rows) == 5  # the order never sent has no lead time
    assert rows["lead_time"].round(3).tolist() == [2.0, 20.0, 2.5, 19.0, 1.0]
    assert rows["order_quantity"].tolist() == [10, 30, 40, 7, 8]
    # supplier_performance = (on time + 1) / (earlier orders + 2), earlier = closed before this one was sent
    assert rows["supplier_performance"].tolist() == pytest.approx([1 / 2, 1 / 2, 2 / 3, 1 / 3, 3 / 4])
    # supply_chain_health: all suppliers' orders closed in the 90 days before: none, none, #1, then #1-#3 (2 of 3
    # on time) for #4 and again for #5 (#4, sent on day 30, is still open on day 40)
    assert rows["supply_chain_health"].tolist() == pytest.approx([1 / 2, 1 / 2, 2 / 3, 3 / 5, 3 / 5])
    assert rows["seasonality"].between(-1, 1).all()


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


def _received_order(inventory: Client, clock: Clock, supplier: str, days: float, qty: int) -> None:
    made = inventory.post("/purchase-orders", json={"supplier": supplier, "location": "WH",
                                                    "lines": [{"sku": "SKU-1", "quantity": qty}]})
    assert made.status_code == 201, made.text
    po = made.json()["id"]
    assert inventory.post(f"/purchase-orders/{po}/approve").status_code == 200
    assert inventory.post(f"/purchase-orders/{po}/send").status_code == 200
    clock.now += timedelta(days=days)
    got = inventory.post(f"/purchase-orders/{po}/receive", json={"lines": [{"sku": "SKU-1", "quantity": qty}]})
    assert got.status_code == 200, got.text
    clock.now += timedelta(days=1)


@pytest.mark.slow
def test_lead_time_model_switches_from_synthetic_rows_to_received_orders(tmp_path: Path,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    clock = Clock()
    monkeypatch.setattr(po_module, "_now", clock)
    inventory_settings = Settings(DATABASE_URL=f"sqlite:///{tmp_path / 'inventory.db'}", DEMO_DATA=False)
    with serving(create_inventory_app(inventory_settings)) as inventory:
        for path, body in [("/locations", {"code": "WH", "name": "Warehouse"}),
                           ("/skus", {"code": "SKU-1", "name": "Widget"}),
                           ("/suppliers", {"code": "FAST", "name": "Fast", "lead_time_days": 5}),
                           ("/suppliers", {"code": "SLOW", "name": "Slow", "lead_time_days": 5})]:
            assert inventory.post(path, json=body).status_code == 201
        settings = Settings(ML_MODEL_PATH=tmp_path / "models", ML_TRAINING_DATA_PATH=tmp_path / "data",
                            INVENTORY_URL=inventory.base, ML_LEAD_TIME_MIN_ORDERS=30)
        with serving(create_app(settings)) as ml:
            section = ml.get("/report").json()["models"]["lead_time_prediction"]
            assert section["training_data_source"] == "synthetic start-up rows"
            for i in range(29):  # FAST delivers in 2 days (on time), SLOW in 60 (late)
                _received_order(inventory, clock, "FAST" if i % 2 else "SLOW", 2 if i % 2 else 60, 10 + i)
            too_few = ml.post("/learning/lead-time")
            assert too_few.status_code == 200, too_few.text
            assert too_few.json()["trained"] is False and too_few.json()["orders"] == 29
            assert ml.get("/report").json()["models"]["lead_time_prediction"]["training_data_source"] == \
                "synthetic start-up rows"
            _received_order(inventory, clock, "FAST", 2, 50)
            done = ml.post("/learning/lead-time")
            assert done.status_code == 200, done.text
            assert done.json()["trained"] is True and done.json()["training_data_source"] == "purchase orders (30)"
            section = ml.get("/report").json()["models"]["lead_time_prediction"]
            assert section["training_data_source"] == "purchase orders (30)" and section["n_rows"] == 30
            assert section["version"] == "v2"
            again = ml.post("/learning/lead-time").json()  # no new orders: no new version
            assert again["trained"] is False and ml.get("/report").json()["models"][
                "lead_time_prediction"]["version"] == "v2"

            def predict(performance: float) -> float:
                resp = ml.post("/predict", json={"model_name": "lead_time_prediction", "features": {
                    "supplier_performance": performance, "order_quantity": 25, "supply_chain_health": 0.5,
                    "seasonality": 0.2}})
                assert resp.status_code == 200, resp.text
                return float(resp.json()["prediction"])

            # what the orders showed: a late supplier's orders take far longer than the synthetic rows ever did
            # (at most about 25 days there), a punctual one's far less
            late, punctual = predict(0.05), predict(0.95)
            assert late > 35 and punctual < late - 15


@pytest.mark.slow
def test_lead_time_refresh_with_an_unreachable_inventory_is_a_503(tmp_path: Path) -> None:
    from tests.serving import free_port

    settings = Settings(ML_MODEL_PATH=tmp_path / "models", ML_TRAINING_DATA_PATH=tmp_path / "data",
                        INVENTORY_URL=f"http://127.0.0.1:{free_port()}", ADMIN_TOKEN="s3cret")
    with serving(create_app(settings)) as ml:
        resp = ml.post("/learning/lead-time")
        assert resp.status_code == 503 and "inventory service" in resp.json()["error"]["message"]
        assert ml.get("/report").json()["models"]["lead_time_prediction"]["version"] == "v1"
        step = ml.post("/learning/step", headers={"Authorization": "Bearer s3cret"})  # the learner too
        assert step.status_code == 503 and "inventory" in step.json()["error"]["message"]
        assert ml.get("/learning").json()["last_step"] is None
