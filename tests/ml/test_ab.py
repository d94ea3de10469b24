"""A/B tests of model versions: a consistent split holding its share, both versions scored on actuals, the
promote/stop decision, and the admin-guarded HTTP routes."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LinearRegression

from sync.errors import Conflict
from sync.ml import MLInventoryIntelligence, MLModel, ab
from sync.ml.service import create_app
from sync.settings import Settings
from tests.ml.data import lead_time_frame
from tests.ml.servers import serving


def _frame(rng: np.random.Generator, n: int, slope: float) -> pd.DataFrame:
    frame = pd.DataFrame({"x": rng.uniform(0, 10, n), "z": rng.normal(size=n)})
    frame["y"] = slope * frame.x + 3 + rng.normal(0, 1, n)
    return frame


@pytest.fixture
def two_versions(settings: Settings) -> MLInventoryIntelligence:
    """Model "m": v1 learnt y = 1.5x + 3 (wrong), v2 learnt y = 2x + 3 (right); v1 is served."""
    rng = np.random.default_rng(0)
    ml = MLInventoryIntelligence(settings=settings)
    ml.models["m"] = MLModel("m", "regression", LinearRegression(), ["x", "z"], "y")
    for slope in (1.5, 2.0):
        ml.training_data["m"] = _frame(rng, 200, slope)
        ml.train_model("m")
    ml.rollback_model("m", 1)
    return ml


@pytest.mark.slow
def test_split_holds_its_share_per_key_and_scores_both_versions(two_versions: MLInventoryIntelligence) -> None:
    ml = two_versions
    test = ab.start(ml, "m", 2, share=0.2, min_samples=50)
    rng = np.random.default_rng(1)
    n = 2000
    served = []
    for i in range(n):
        x = float(rng.uniform(0, 10))
        out = test.predict(f"SKU-{i}", (x, 0.0))
        assert out["model_version"] == ("v2" if out["arm"] == "challenger" else "v1")
        served.append((out["prediction_id"], 2 * x + 3 + float(rng.normal(0, 1))))
    share = test.served["challenger"] / n
    assert abs(share - 0.2) < 3 * math.sqrt(0.2 * 0.8 / n)  # within sampling error (3 sd)
    assert len({test.predict("SKU-7", (1.0, 0.0))["arm"] for _ in range(5)}) == 1  # one key, one version

    early = test.decision()
    assert early["decision"] == "continue" and early["scored"] == 0
    test.record_actuals(served[:30])
    assert test.decision()["decision"] == "continue"  # under min_samples
    test.record_actuals(served[30:])
    decision = test.decision()
    arms = decision["arms"]
    assert decision["scored"] == n and arms["champion"]["scored_served"] + arms["challenger"]["scored_served"] == n
    assert arms["challenger"]["mae_served"] < arms["champion"]["mae_served"]
    assert arms["challenger"]["mae_all"] < arms["champion"]["mae_all"]
    assert decision["decision"] == "promote" and decision["interval"][1] < 0
    with pytest.raises(Conflict):
        test.record_actuals(served[:1])  # an actual counts once

    summary = ab.promote(ml, "m")
    assert summary["status"] == "promoted"
    assert ml.models["m"].fitted_.version == 2 and ml.store.current_version("m") == 2
    assert ml.generate_ml_report()["ab_tests"]["m"]["status"] == "promoted"


def test_a_worse_challenger_is_called_stop_and_cannot_be_promoted(two_versions: MLInventoryIntelligence) -> None:
    ml = two_versions
    ml.rollback_model("m", 2)  # the right model is served; the wrong one challenges it
    test = ab.start(ml, "m", 1, share=0.5, min_samples=50)
    rng = np.random.default_rng(2)
    items = []
    for i in range(300):
        x = float(rng.uniform(0, 10))
        items.append((test.predict(str(i), (x, 0.0))["prediction_id"], 2 * x + 3 + float(rng.normal(0, 1))))
    test.record_actuals(items)
    assert test.decision()["decision"] == "stop"
    with pytest.raises(Conflict):
        ab.promote(ml, "m")
    assert ab.stop(ml, "m")["status"] == "stopped" and ml.models["m"].fitted_.version == 2


@pytest.mark.slow
def test_ab_routes_over_http_need_an_admin_token_to_start_and_promote(tmp_path: Path) -> None:
    settings = Settings(ML_MODEL_PATH=tmp_path / "models", ML_TRAINING_DATA_PATH=tmp_path / "data",
                        ADMIN_TOKEN="s3cret", ML_AB_MIN_SAMPLES=40)
    admin = {"Authorization": "Bearer s3cret"}
    good = lead_time_frame(400, seed=5)
    bad = good.assign(lead_time=good.lead_time + 4)  # a version that learnt lead times 4 days too long
    with serving(create_app(settings)) as ml:
        for frame in (good, bad):  # v2 (good), then v3 (bad) is served
            resp = ml.post("/train", json={"model_name": "lead_time_prediction", "data": frame.to_dict("records"),
                                           "replace": True})
            assert resp.status_code == 200, resp.text
        assert ml.post("/ab/lead_time_prediction/start", json={"challenger_version": 2}).status_code == 401
        bad_share = ml.post("/ab/lead_time_prediction/start", json={"challenger_version": 2, "share": 1.5},
                            headers=admin)
        assert bad_share.status_code == 422 and "share" in bad_share.json()["error"]["message"]
        started = ml.post("/ab/lead_time_prediction/start", json={"challenger_version": 2, "share": 0.3},
                          headers=admin)
        assert started.status_code == 201, started.text
        assert started.json()["champion"] == "v3" and started.json()["challenger"] == "v2"

        fresh = lead_time_frame(200, seed=9)
        items = []
        for i, row in enumerate(fresh.to_dict("records")):
            actual = row.pop("lead_time")
            resp = ml.post("/ab/lead_time_prediction/predict", json={"key": f"SKU-{i % 80}", "features": row})
            assert resp.status_code == 200, resp.text
            items.append({"prediction_id": resp.json()["prediction_id"], "actual": actual})
        unknown = ml.post("/ab/lead_time_prediction/actuals",
                          json={"items": [items[0], {"prediction_id": "nope", "actual": 1}]})
        assert unknown.status_code == 404 and "items[1].prediction_id" in unknown.json()["error"]["message"]
        scored = ml.post("/ab/lead_time_prediction/actuals", json={"items": items})
        assert scored.status_code == 200, scored.text  # the refused request above recorded nothing
        body = ml.get("/ab/lead_time_prediction").json()
        assert body["scored"] == 200 and body["decision"] == "promote", body
        assert 0 < body["arms"]["challenger"]["served"] < 200
        assert ml.get("/report").json()["ab_tests"]["lead_time_prediction"]["decision"] == "promote"

        assert ml.post("/ab/lead_time_prediction/promote").status_code == 401
        promoted = ml.post("/ab/lead_time_prediction/promote", headers=admin)
        assert promoted.status_code == 200 and promoted.json()["status"] == "promoted"
        models = {m["name"]: m for m in ml.get("/models").json()["items"]}
        assert models["lead_time_prediction"]["version"] == "v2"
        after = ml.post("/ab/lead_time_prediction/predict", json={"key": "x", "features": row})
        assert after.status_code == 409
