"""/forecast without history reads the ledger's weekly demand from a real inventory service."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from sync.inventory.app import create_app as create_inventory_app
from sync.ml.service import create_app
from sync.settings import Settings
from tests.ml.servers import serving
from tests.serving import free_port

pytestmark = pytest.mark.slow


def test_forecast_reads_demand_history_from_the_inventory_service(tmp_path: Path) -> None:
    inventory_settings = Settings(DATABASE_URL=f"sqlite:///{tmp_path / 'inventory.db'}", DEMO_DATA=True)
    with serving(create_inventory_app(inventory_settings)) as inventory:
        history = inventory.get("/demand-history", params={"freq": "W"}).json()["items"]
        assert history, "the inventory demo data should give weekly demand"
        assert any(i["orders"] > 0 for i in history)  # the demo's sales carry invoice references
        last = max(pd.Timestamp(i["date"]) for i in history)
        skus = {i["sku"] for i in history}
        settings = Settings(ML_MODEL_PATH=tmp_path / "models", ML_TRAINING_DATA_PATH=tmp_path / "data",
                            INVENTORY_URL=inventory.base)
        with serving(create_app(settings)) as ml:
            resp = ml.post("/forecast", json={"horizon": 4})
            assert resp.status_code == 200, resp.text
            items = resp.json()["items"]
            assert {i["sku"] for i in items} == skus and len(items) == 4 * len(skus)
            assert min(pd.Timestamp(i["date"]) for i in items) == last + pd.Timedelta(weeks=1)
            assert all(i["q90"] >= 0 and i["forecast"] >= 0 for i in items)
            one = sorted(skus)[0]
            resp = ml.post("/forecast", json={"horizon": 2, "sku": one})
            assert resp.status_code == 200, resp.text
            assert {i["sku"] for i in resp.json()["items"]} == {one}
            both = ml.post("/forecast", json={"horizon": 2, "sku": one, "history": [
                {"sku": one, "date": "2024-01-07", "quantity": 1}]})
            assert both.status_code == 422 and "sku" in both.json()["error"]["message"]


def test_an_unreachable_inventory_is_a_503(tmp_path: Path) -> None:
    settings = Settings(ML_MODEL_PATH=tmp_path / "models", ML_TRAINING_DATA_PATH=tmp_path / "data",
                        INVENTORY_URL=f"http://127.0.0.1:{free_port()}")
    with serving(create_app(settings)) as ml:
        resp = ml.post("/forecast", json={"horizon": 4})
        assert resp.status_code == 503
        error = resp.json()["error"]
        assert error["code"] == "service_unavailable" and "inventory service" in error["message"]


def test_forecast_accepts_order_counts_and_names_a_bad_one(tmp_path: Path) -> None:
    settings = Settings(ML_MODEL_PATH=tmp_path / "models", ML_TRAINING_DATA_PATH=tmp_path / "data")
    weeks = pd.date_range("2024-01-07", periods=30, freq="W-SUN")
    rows = [{"sku": sku, "date": d.date().isoformat(), "quantity": 10 + (i % 3) * k, "orders": 2 + i % 2}
            for k, sku in enumerate(["A", "B"], start=1) for i, d in enumerate(weeks)]
    with serving(create_app(settings)) as ml:
        ok = ml.post("/forecast", json={"horizon": 2, "history": rows})
        assert ok.status_code == 200, ok.text
        assert len(ok.json()["items"]) == 4
        bad = ml.post("/forecast", json={"horizon": 2, "history": [{**rows[0], "orders": -1}, *rows[1:]]})
        assert bad.status_code == 422 and "orders" in bad.text
