"""Continuous learning against a real inventory service: the learner follows the outbox, scores its past
forecasts on the weeks that arrive, and a drop in accuracy triggers exactly one retrain."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pytest

from sync.inventory.app import create_app as create_inventory_app
from sync.ml import MLInventoryIntelligence
from sync.ml.learning import ContinuousLearner
from sync.ml.service import create_app
from sync.settings import Settings
from tests.ml.servers import Client, serving

LEVELS = {"SKU-A": 20, "SKU-B": 40, "SKU-C": 60, "SKU-D": 80, "SKU-E": 100, "SKU-F": 120}
FIRST = date(2024, 1, 3)  # a Wednesday: one shipment per SKU mid-week
ADMIN = {"Authorization": "Bearer s3cret"}


def _import(inventory: Client, weeks: range, factor: float = 1.0, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    lines = ["sku,date,quantity"]
    for w in weeks:
        day = FIRST + timedelta(weeks=w)
        for sku, level in LEVELS.items():
            lines.append(f"{sku},{day.isoformat()},{max(1, round(factor * level * rng.uniform(0.9, 1.1)))}")
    resp = inventory.session.post(f"{inventory.base}/imports", data="\n".join(lines) + "\n",
                                  headers={"content-type": "text/csv", **ADMIN}, timeout=60)
    assert resp.status_code == 201, resp.text


@pytest.fixture
def inventory(tmp_path: Path) -> Client:
    settings = Settings(DATABASE_URL=f"sqlite:///{tmp_path / 'inventory.db'}", DEMO_DATA=False, ADMIN_TOKEN="s3cret")
    with serving(create_inventory_app(settings)) as client:
        _import(client, range(30))
        yield client


@pytest.mark.slow
def test_a_drop_in_accuracy_on_arriving_actuals_triggers_exactly_one_retrain(tmp_path: Path,
                                                                              inventory: Client) -> None:
    settings = Settings(ML_MODEL_PATH=tmp_path / "models", INVENTORY_URL=inventory.base, ML_LEARNING_INTERVAL=0,
                        ML_RETRAIN_MIN_ACTUALS=6, ML_RETRAIN_ACCURACY_DROP=0.2, ML_RETRAIN_DRIFT_PSI=10)
    ml = MLInventoryIntelligence(settings=settings)
    learner = ContinuousLearner(ml, settings)
    first = learner.step()
    assert first["events"] > 0 and learner.history is not None and learner.history.shape == (6, 30)
    learner.retrain("start: train on the ledger's history")  # v1, on 6 SKUs x 26 weeks
    assert ml.models["demand_forecast"].fitted_.version == 1 and len(learner.pending) == 6

    _import(inventory, range(30, 31), seed=1)  # a week like the others arrives
    step = learner.step()
    assert step["scored"] == 6 and step["retrained"] is None
    live = learner.live()
    assert live["live_accuracy"] > live["held_out_accuracy"] - 0.2

    _import(inventory, range(31, 32), factor=4.0, seed=2)  # demand jumps: last week's forecasts miss by far
    step = learner.step()
    assert step["scored"] == 6 and step["retrained"] is not None
    assert "accuracy" in step["retrained"]["reason"] and step["retrained"]["to_version"] == "v2"
    assert learner.step()["retrained"] is None  # nothing new arrived: no second retrain
    assert len(learner.retrains) == 2  # the start-up one and the one the drop caused
    fitted = ml.models["demand_forecast"].fitted_
    assert fitted.version == 2 and fitted.metadata["n_rows"] == 6 * 28
    assert fitted.metadata["training_data_source"].startswith("inventory demand history")
    report = ml.generate_ml_report()
    assert report["models"]["demand_forecast"]["training_data_source"].startswith("inventory demand history")


@pytest.mark.slow
def test_steady_weeks_retrain_nothing_though_calendar_features_leave_the_training_range(
        tmp_path: Path, inventory: Client) -> None:
    settings = Settings(ML_MODEL_PATH=tmp_path / "models", INVENTORY_URL=inventory.base, ML_LEARNING_INTERVAL=0,
                        ML_RETRAIN_MIN_ACTUALS=30)
    ml = MLInventoryIntelligence(settings=settings)
    learner = ContinuousLearner(ml, settings)
    learner.step()
    learner.retrain("start")
    for week in range(30, 36):  # six steady weeks: 36 forecasts scored, all past the trained weeks
        _import(inventory, range(week, week + 1), seed=week)
        assert learner.step()["retrained"] is None
    live = learner.live()
    assert live["scored"] == 36 and live["max_psi"] is not None and live["max_psi"] < 0.25
    assert len(learner.retrains) == 1


@pytest.mark.slow
def test_drift_past_the_threshold_triggers_one_retrain(tmp_path: Path, inventory: Client) -> None:
    # the accuracy rule cannot fire (a drop of 1.0): only the feature drift can
    settings = Settings(ML_MODEL_PATH=tmp_path / "models", INVENTORY_URL=inventory.base, ML_LEARNING_INTERVAL=0,
                        ML_RETRAIN_MIN_ACTUALS=30, ML_RETRAIN_ACCURACY_DROP=1.0, ML_RETRAIN_DRIFT_PSI=0.25)
    ml = MLInventoryIntelligence(settings=settings)
    learner = ContinuousLearner(ml, settings)
    learner.step()
    learner.retrain("start")
    retrained = []
    for week in range(30, 36):  # demand of every SKU x4: historical_demand leaves the trained range
        _import(inventory, range(week, week + 1), factor=4.0, seed=week)
        step = learner.step()
        if step["retrained"] is not None:
            retrained.append(step["retrained"])
    assert len(retrained) == 1 and retrained[0]["reason"].startswith("drift: PSI")
    assert retrained[0]["live"]["scored"] == 30 and ml.models["demand_forecast"].fitted_.version == 2


@pytest.mark.slow
def test_learning_routes_over_http(tmp_path: Path, inventory: Client) -> None:
    settings = Settings(ML_MODEL_PATH=tmp_path / "models", ML_TRAINING_DATA_PATH=tmp_path / "data",
                        INVENTORY_URL=inventory.base, ML_LEARNING_INTERVAL=0, ADMIN_TOKEN="s3cret")
    with serving(create_app(settings)) as ml:
        assert ml.post("/learning/step").status_code == 401
        step = ml.post("/learning/step", headers=ADMIN)
        assert step.status_code == 200 and step.json()["events"] > 0, step.text
        status = ml.get("/learning").json()
        assert status["enabled"] is False and status["events_after"] > 0 and status["pending_forecasts"] == 6
        assert status["thresholds"] == {"accuracy_drop": 0.2, "drift_psi": 0.25, "min_actuals": 30}
        assert ml.get("/report").json()["continuous_learning"]["events_after"] == status["events_after"]
