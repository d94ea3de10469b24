"""``POST /simulate`` and ``POST /plan`` over real HTTP (``/plan`` against a real inventory service)."""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from sync.inventory.app import create_app as create_inventory_app
from sync.ml.service import create_app
from sync.settings import Settings
from tests.ml.servers import Client, serving
from tests.serving import free_port

SKUS = ["20723", "21094", "21116", "21439", "15044D", "21106"]


def ml_settings(tmp_path: Path, inventory_url: str | None = None) -> Settings:
    extra = {"INVENTORY_URL": inventory_url} if inventory_url else {}
    return Settings(ML_MODEL_PATH=tmp_path / "models", ML_TRAINING_DATA_PATH=tmp_path / "data", **extra)


@pytest.fixture(scope="module")
def rows(sample_history: pd.DataFrame) -> list[dict[str, Any]]:
    part = sample_history[sample_history["sku"].isin(SKUS)]
    return [{"sku": r.sku, "date": pd.Timestamp(r.date).date().isoformat(), "quantity": float(r.quantity),
             "price": float(r.price), "orders": int(r.orders)} for r in part.itertuples()]


@pytest.fixture(scope="module")
def ml(tmp_path_factory: pytest.TempPathFactory) -> Client:
    with serving(create_app(ml_settings(tmp_path_factory.mktemp("ml"), f"http://127.0.0.1:{free_port()}"))) as client:
        yield client


@pytest.mark.slow
def test_simulate_answers_both_policies(ml: Client, rows: list[dict[str, Any]]) -> None:
    resp = ml.post("/simulate", json={"history": rows, "ordering_cost": 10, "include_skus": True})
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert set(body["policies"]) == {"ours", "textbook"} and body["periods"] == 24 and len(body["origins"]) == 3
    for outcome in body["policies"].values():
        assert 0.0 <= outcome["fill_rate"] <= 1.0 and outcome["stock_value"] > 0 and outcome["orders"] > 0
        assert {"stockout_periods", "skus_far_below_target"} <= set(outcome)
    assert {r["sku"] for r in body["skus"]["ours"]} == set(SKUS)
    assert body["stock_value_unit"] == "currency"


@pytest.mark.parametrize(("change", "field"), [
    ({"service_level": 1.2}, "service_level"),
    ({"service_level": 0}, "service_level"),
    ({"ordering_cost": -1}, "ordering_cost"),
    ({"unit_cost": {"21116": -3}}, "unit_cost"),
    ({"lead_time": -1}, "lead_time"),
    ({"lead_time": {"NO-SUCH-SKU": 2}}, "lead_time"),
    ({"periods": 0}, "periods"),
    ({"start": "2009-12-20"}, "start"),
])
@pytest.mark.slow
def test_simulate_refuses_bad_input_with_a_422_naming_the_field(ml: Client, rows: list[dict[str, Any]],
                                                                change: dict[str, Any], field: str) -> None:
    resp = ml.post("/simulate", json={"history": rows, **change})
    assert resp.status_code == 422, resp.text
    error = resp.json()["error"]
    assert error["code"] == "validation_error" and field in error["message"]
    assert field in str(error["details"])


@pytest.mark.slow
def test_plan_with_an_unreachable_inventory_is_a_503_and_bad_input_a_422(ml: Client) -> None:
    resp = ml.post("/plan", json={})
    assert resp.status_code == 503 and "inventory service" in resp.json()["error"]["message"]
    job = ml.post("/plan", json={"background": True}).json()
    deadline = time.monotonic() + 60
    while job["status"] == "running" and time.monotonic() < deadline:
        time.sleep(0.1)
        job = ml.get(f"/plan/jobs/{job['job_id']}").json()
    assert job["status"] == "failed" and job["error"]["code"] == "service_unavailable"
    resp = ml.post("/plan", json={"service_level": 1})
    assert resp.status_code == 422 and "service_level" in resp.json()["error"]["message"]
    resp = ml.post("/plan", json={"ordering_cost": -5})
    assert resp.status_code == 422 and "ordering_cost" in resp.json()["error"]["message"]


@pytest.mark.slow
def test_plan_reads_the_inventory_service_and_proposes_orders_by_the_policy(tmp_path: Path) -> None:
    inventory_settings = Settings(DATABASE_URL=f"sqlite:///{tmp_path / 'inventory.db'}", DEMO_DATA=True)
    with serving(create_inventory_app(inventory_settings)) as inventory:
        first = sorted(i["sku"] for i in inventory.get("/demand-history").json()["items"])[0]
        made = inventory.post("/suppliers", json={"code": "ACME", "name": "Acme", "lead_time_days": 21,
                                                  "lead_time_sd_days": 7})
        assert made.status_code == 201, made.text
        patched = inventory.session.patch(f"{inventory.base}/skus/{first}", timeout=30,
                                          json={"supplier": "ACME", "ordering_cost": 25, "lead_time_days": 21})
        assert patched.status_code == 200, patched.text
        skus = {s["code"]: s for s in inventory.get("/skus", params={"limit": 1000}).json()["items"]}
        levels = inventory.get("/levels", params={"limit": 1000}).json()["items"]
        with serving(create_app(ml_settings(tmp_path, inventory.base))) as ml:
            resp = ml.post("/plan", json={"ordering_cost": 10, "plan_periods": 2, "apply": False})
            assert resp.status_code == 200, resp.text
            body = resp.json()
            # costs and lead-time spread from the records
            own = ml.post("/plan", json={"plan_periods": 2, "apply": False})
            assert own.status_code == 200, own.text
            mine = {i["sku"]: i for i in own.json()["items"]}[first]
            started = ml.post("/plan", json={"ordering_cost": 10, "plan_periods": 2, "background": True,
                                             "apply": False})
            assert started.status_code == 202, started.text
            job = started.json()
            assert job["status"] == "running" and job["progress"]["total"] == 6
            second = ml.post("/plan", json={"background": True})
            assert second.status_code == 409 and second.json()["error"]["details"]["job_id"] == job["job_id"]
            deadline = time.monotonic() + 120
            while job["status"] == "running" and time.monotonic() < deadline:
                time.sleep(0.2)
                job = ml.get(f"/plan/jobs/{job['job_id']}").json()
            assert job["status"] == "done" and job["progress"]["done"] == 6, job
            background = job["result"]
            missing = ml.get("/plan/jobs/no-such-job")
            assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"
    # the SKU's own ordering cost gives its EOQ; its supplier's promised spread its lead-time spread
    annual = mine["demand_per_period"] * 365.25 / 7
    assert mine["eoq"] == pytest.approx(math.sqrt(2 * annual * 25 / (0.25 * mine["unit_cost"])))
    assert mine["lead_time"] == 3 and mine["lead_time_sd"] == 1
    assert mine["lead_time_source"] == "sku lead_time_days (spread: supplier ACME)"
    items = {i["sku"]: i for i in body["items"]}
    assert items[first]["lead_time_sd"] == 1 and items[first]["eoq"] < mine["eoq"]  # ordering cost 10 < 25
    assert items and set(items) <= set(skus) and body["skus"] == len(items)
    for code, item in items.items():
        assert item["lead_time"] == pytest.approx(skus[code]["lead_time_days"] / 7)  # from the SKU record
        position = sum(lv["on_hand"] + lv["incoming"] for lv in levels if lv["sku"] == code)
        assert item["position"] == pytest.approx(position)
    same = {k: background[k] for k in ("seconds", "plan_id", "planned_at")}
    assert background == body | same  # the same plan, computed as a job
    assert body["applied"] is None  # apply: false writes nothing
    proposed = {p["sku"]: p for p in body["proposals"]}
    assert 0 < len(proposed) < len(items), (len(proposed), len(items))  # both branches below are exercised
    for code, item in items.items():
        if item["position"] <= item["reorder_point"] and item["order_up_to"] > item["position"]:
            line = proposed[code]
            assert line["supplier"] == skus[code]["supplier"]
            assert line["quantity"] == math.ceil(item["order_up_to"] - item["position"] - 1e-9)
            assert line["reorder_point"] == item["reorder_point"] and line["position"] == item["position"]
            assert 0 <= line["fill_rate_without_order"] <= 1 and line["reason"]
        else:
            assert code not in proposed


@pytest.mark.slow
def test_plan_writes_planner_levels_and_replaces_earlier_drafts(tmp_path: Path) -> None:
    """apply (the default): planner-policy SKUs get the plan's levels, proposals become drafts per supplier with
    their reasons, a second plan cancels the first one's drafts, hand-made orders stay; /plan/latest says it."""
    inventory_settings = Settings(DATABASE_URL=f"sqlite:///{tmp_path / 'inventory.db'}", DEMO_DATA=True)
    with serving(create_inventory_app(inventory_settings)) as inventory:
        codes = sorted({i["sku"] for i in inventory.get("/demand-history").json()["items"]})
        planner, manual = codes[0], codes[1]
        assert inventory.post("/suppliers", json={"code": "ACME", "name": "Acme"}).status_code == 201
        for code, policy in ((planner, "planner"), (manual, "manual")):
            resp = inventory.session.patch(f"{inventory.base}/skus/{code}", timeout=30,
                                           json={"policy": policy, "supplier": "ACME", "reorder_point": 1})
            assert resp.status_code == 200, resp.text
        wh = inventory.get("/levels", params={"sku": planner}).json()["items"][0]["location"]
        by_hand = inventory.post("/purchase-orders", json={"supplier": "ACME", "location": wh,
                                                           "lines": [{"sku": manual, "quantity": 1}]}).json()
        with serving(create_app(ml_settings(tmp_path, inventory.base))) as ml:
            missing = ml.get("/plan/latest")
            assert missing.status_code == 404
            first = ml.post("/plan", json={"ordering_cost": 10})
            assert first.status_code == 200, first.text
            first_body = first.json()
            plan = {i["sku"]: i for i in first_body["items"]}
            assert first_body["applied"]["levels_updated"] == 1
            sku = inventory.get(f"/skus/{planner}").json()
            assert sku["reorder_point"] == math.ceil(plan[planner]["reorder_point"])
            assert sku["order_up_to"] == math.ceil(plan[planner]["order_up_to"])
            assert inventory.get(f"/skus/{manual}").json()["reorder_point"] == 1  # set by hand: kept
            changes = inventory.get(f"/skus/{planner}/changes").json()["items"]
            assert changes[0]["actor"] == f"planner:{first_body['plan_id']}"
            drafts = inventory.get("/purchase-orders", params={"status": "draft"}).json()["items"]
            from_plan = [o for o in drafts if o["plan_id"] == first_body["plan_id"]]
            assert len(from_plan) == len(first_body["applied"]["orders_created"]) > 0
            proposed = {p["sku"]: p for p in first_body["proposals"]}
            lines = {ln["sku"]: ln for o in from_plan for ln in o["lines"]}
            assert set(lines) == set(proposed)
            for code, line in lines.items():
                assert line["quantity"] == proposed[code]["quantity"]
                assert line["reason"]["reorder_point"] == proposed[code]["reorder_point"]
            latest = ml.get("/plan/latest").json()
            assert latest["plan_id"] == first_body["plan_id"] and latest["inputs"]["ordering_cost"] == 10

            second = ml.post("/plan", json={"ordering_cost": 10}).json()
            orders = {o["id"]: o for o in inventory.get("/purchase-orders", params={"limit": 1000}).json()["items"]}
            assert all(orders[o["id"]]["status"] == "cancelled" for o in from_plan)
            assert orders[by_hand["id"]]["status"] == "draft"  # a person's draft is never touched
            assert sorted(second["applied"]["drafts_cancelled"]) == sorted(o["id"] for o in from_plan)
            assert ml.get("/plan/latest").json()["plan_id"] == second["plan_id"]
