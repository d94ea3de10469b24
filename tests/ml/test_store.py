"""Saved models reload to identical predictions, roll back, and are refused when tampered with."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import pytest
import skops.io as sio
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer

from sync.errors import NotFound, ValidationFailed
from sync.ml import MLInventoryIntelligence
from sync.ml.store import ModelIntegrityError, ModelStore
from sync.settings import Settings
from tests.ml.data import FRAMES, MODEL_DATA, demand_frame

ROW = {"historical_demand": 120, "seasonality": 0.5, "trend": 10, "price": 50, "promotions": 1}


def trained_system(settings: Settings, seed: int = 0) -> MLInventoryIntelligence:
    ml = MLInventoryIntelligence(settings=settings)
    ml.add_training_data("demand", demand_frame(300, seed=seed))
    ml.train_model("demand_forecast")
    return ml


@pytest.mark.slow
def test_saved_models_reload_to_identical_predictions(settings: Settings) -> None:
    ml = MLInventoryIntelligence(settings=settings)
    rows = {}
    for model_name, data_type in MODEL_DATA.items():
        ml.add_training_data(data_type, FRAMES[data_type](300))
        ml.train_model(model_name)
        rows[model_name] = FRAMES[data_type](5, seed=7)[ml.models[model_name].feature_columns]
    fresh = MLInventoryIntelligence(settings=settings)
    assert fresh.load_saved_models() == {name: 1 for name in MODEL_DATA}
    for model_name, frame in rows.items():
        for record in frame.to_dict("records"):
            before, after = ml.predict(model_name, record), fresh.predict(model_name, record)
            assert (after.prediction, after.lower, after.upper, after.confidence) == \
                (before.prediction, before.lower, before.upper, before.confidence)
            assert after.model_version == "v1"
        assert fresh.generate_ml_report()["models"][model_name]["metrics"] == \
            ml.generate_ml_report()["models"][model_name]["metrics"]


@pytest.mark.slow
def test_metadata_records_metrics_data_hash_and_versions(settings: Settings) -> None:
    trained_system(settings)
    meta = json.loads((settings.ML_MODEL_PATH / "demand_forecast" / "v0001.json").read_text())
    assert {"mae", "rmse", "r2", "wape"} <= set(meta["metrics"])
    assert len(meta["data_hash"]) == 64 and len(meta["sha256"]) == 64
    assert {"scikit-learn", "numpy", "skops", "python"} <= set(meta["library_versions"])


@pytest.mark.slow
def test_rollback_serves_the_previous_version(settings: Settings) -> None:
    ml = trained_system(settings, seed=0)
    first = ml.predict("demand_forecast", ROW).prediction
    ml.training_data.clear()
    ml.add_training_data("demand", demand_frame(300, seed=1).assign(demand=lambda d: d.demand * 3))
    ml.train_model("demand_forecast")
    second = ml.predict("demand_forecast", ROW)
    assert second.model_version == "v2" and second.prediction != pytest.approx(first, rel=0.1)
    assert ml.rollback_model("demand_forecast") == 1
    back = ml.predict("demand_forecast", ROW)
    assert back.prediction == first and back.model_version == "v1" and not back.cached
    assert [v["current"] for v in ml.model_versions("demand_forecast")] == [True, False]
    # a restart serves the rolled-back version too
    assert MLInventoryIntelligence(settings=settings).load_saved_models() == {"demand_forecast": 1}
    assert ml.rollback_model("demand_forecast", 2) == 2
    with pytest.raises(NotFound, match="no saved version 9"):
        ml.rollback_model("demand_forecast", 9)
    ml.rollback_model("demand_forecast", 1)
    with pytest.raises(NotFound, match="no version before 1"):
        ml.rollback_model("demand_forecast")


@pytest.mark.slow
def test_a_changed_artifact_is_refused(settings: Settings) -> None:
    trained_system(settings)
    artifact = settings.ML_MODEL_PATH / "demand_forecast" / "v0001.skops"
    blob = bytearray(artifact.read_bytes())
    blob[len(blob) // 2] ^= 0xFF
    artifact.write_bytes(bytes(blob))
    with pytest.raises(ModelIntegrityError, match="SHA-256 does not match"):
        MLInventoryIntelligence(settings=settings).load_model("demand_forecast")


@pytest.mark.slow
def test_a_pickle_in_place_of_the_artifact_is_never_loaded(settings: Settings, tmp_path: Path) -> None:
    trained_system(settings)
    marker = tmp_path / "pwned"
    artifact = settings.ML_MODEL_PATH / "demand_forecast" / "v0001.skops"
    artifact.write_bytes(pickle.dumps(Exploit(str(marker))))
    with pytest.raises(ModelIntegrityError):
        MLInventoryIntelligence(settings=settings).load_model("demand_forecast")
    assert not marker.exists()


class Exploit:
    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (Path.touch, (Path(self.path),))  # type: ignore[return-value]


def _rehash(meta_path: Path, blob: bytes) -> None:
    import hashlib

    meta = json.loads(meta_path.read_text())
    meta["sha256"] = hashlib.sha256(blob).hexdigest()
    meta_path.write_text(json.dumps(meta))


@pytest.mark.slow
def test_types_outside_the_allowlist_are_refused_even_with_a_matching_hash(settings: Settings) -> None:
    trained_system(settings)
    folder = settings.ML_MODEL_PATH / "demand_forecast"
    blob = sio.dumps(Pipeline([("evil", FunctionTransformer(func=print))]))
    (folder / "v0001.skops").write_bytes(blob)
    _rehash(folder / "v0001.json", blob)
    with pytest.raises(ModelIntegrityError, match="allowlist"):
        MLInventoryIntelligence(settings=settings).load_model("demand_forecast")


@pytest.mark.slow
def test_signing_key_rejects_an_artifact_rewritten_with_a_fresh_hash(tmp_path: Path) -> None:
    signed = Settings(ML_MODEL_PATH=tmp_path / "models", ML_MODEL_SIGNING_KEY="k3y")
    trained_system(signed)
    folder = tmp_path / "models" / "demand_forecast"
    MLInventoryIntelligence(settings=signed).load_model("demand_forecast")  # verifies
    other = Settings(ML_MODEL_PATH=tmp_path / "other")
    trained_system(other, seed=3)
    blob = (tmp_path / "other" / "demand_forecast" / "v0001.skops").read_bytes()
    (folder / "v0001.skops").write_bytes(blob)
    _rehash(folder / "v0001.json", blob)
    with pytest.raises(ModelIntegrityError, match="HMAC"):
        MLInventoryIntelligence(settings=signed).load_model("demand_forecast")


@pytest.mark.slow
def test_missing_metadata_and_bad_names(settings: Settings) -> None:
    trained_system(settings)
    (settings.ML_MODEL_PATH / "demand_forecast" / "v0001.json").unlink()
    with pytest.raises(NotFound):
        MLInventoryIntelligence(settings=settings).load_model("demand_forecast", 1)
    store = ModelStore(settings.ML_MODEL_PATH)
    with pytest.raises(ValidationFailed, match="model_name"):
        store.versions("../secrets")
    with pytest.raises(NotFound, match="no saved versions"):
        store.load("never_trained")


def test_a_model_with_foreign_types_is_not_saved(settings: Settings) -> None:
    from sync.ml import MLModel

    ml = MLInventoryIntelligence(settings=settings)
    ml.models["odd"] = MLModel("odd", "regression", _OddRegressor(), ["price"], "demand")
    ml.add_training_data("odd", demand_frame(100))
    with pytest.raises(ModelIntegrityError, match="allowlist"):
        ml.train_model("odd")
    assert not ml.models["odd"].is_trained and not (settings.ML_MODEL_PATH / "odd").exists()


from sklearn.linear_model import LinearRegression  # noqa: E402


class _OddRegressor(LinearRegression):
    """A user class: skops does not trust it, so it can never be written (and later refused)."""


@pytest.mark.slow
def test_concurrent_saves_take_distinct_versions(settings: Settings) -> None:
    from concurrent.futures import ThreadPoolExecutor

    ml = trained_system(settings)
    fitted = ml.models["demand_forecast"].fitted_
    stores = [ModelStore(settings.ML_MODEL_PATH) for _ in range(6)]  # as if six processes saved at once
    with ThreadPoolExecutor(6) as pool:
        versions = list(pool.map(lambda s: s.save("demand_forecast", fitted.pipeline, fitted.saved_metadata()),
                                 stores))
    assert sorted(versions) == [2, 3, 4, 5, 6, 7]
    for version in versions:
        assert ModelStore(settings.ML_MODEL_PATH).load("demand_forecast", version)[1]["version"] == version
