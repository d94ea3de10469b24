"""The seed's "Machine Learning Integration" and "ML Model Configuration" examples, run unchanged."""

from __future__ import annotations

import re
import runpy
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

SEED = Path(__file__).parents[1] / "seed_examples"


def test_ml_integration_example_runs_verbatim(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ML_MODEL_PATH", str(tmp_path / "models"))
    runpy.run_path(str(SEED / "ml_integration.py"), run_name="__main__")
    out = capsys.readouterr().out
    assert "Training success: True" in out
    predicted = float(re.search(r"Predicted demand: ([-0-9.]+)", out).group(1))  # type: ignore[union-attr]
    assert 60 < predicted < 140  # the seed's demand is N(100, 20) and independent of the features
    confidence = float(re.search(r"Confidence: ([0-9.]+)", out).group(1))  # type: ignore[union-attr]
    assert 0 < confidence < 1
    assert float(re.search(r"Optimal quantity: ([0-9.]+)", out).group(1)) > 0  # type: ignore[union-attr]
    assert float(re.search(r"Reorder point: ([0-9.]+)", out).group(1)) > 0  # type: ignore[union-attr]
    anomalies = int(re.search(r"Anomalies detected: (\d+)", out).group(1))  # type: ignore[union-attr]
    assert anomalies == 100  # contamination ML_ANOMALY_THRESHOLD = 0.1 of 1,000 rows
    accuracy = float(re.search(r"Model accuracy: ([0-9.]+)", out).group(1))  # type: ignore[union-attr]
    assert 0.6 < accuracy < 1.0  # 1 - WAPE of a ~N(100, 20) target is about 0.84
    assert (tmp_path / "models" / "demand_forecast" / "v0001.skops").is_file()


def test_ml_model_configuration_example_runs_verbatim_and_the_custom_model_trains(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import numpy as np
    import pandas as pd

    from sync.ml_integration import MLInventoryIntelligence, MLModel

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ML_MODEL_PATH", str(tmp_path / "models"))
    scope = runpy.run_path(str(SEED / "ml_model_configuration.py"),
                           init_globals={"MLInventoryIntelligence": MLInventoryIntelligence, "MLModel": MLModel})
    ml_system = scope["ml_system"]
    assert ml_system.models["custom_forecast"].feature_columns == ["feature1", "feature2", "feature3"]
    rng = np.random.default_rng(0)
    df = pd.DataFrame(rng.normal(size=(300, 3)), columns=["feature1", "feature2", "feature3"])
    df["target"] = 3 * df.feature1 - df.feature2 + rng.normal(0, 0.1, 300)
    ml_system.add_training_data("custom_forecast", df)
    assert ml_system.train_model("custom_forecast", "custom_forecast")
    result = ml_system.predict("custom_forecast", {"feature1": 1, "feature2": 0, "feature3": 0})
    assert abs(result.prediction - 3.0) < 0.6
    assert result.lower < result.prediction < result.upper
    # the GradientBoostingRegressor is saved and reloads through the allowlist
    again = MLInventoryIntelligence()
    again.load_model("custom_forecast")
    assert again.predict("custom_forecast", {"feature1": 1, "feature2": 0, "feature3": 0}).prediction == \
        result.prediction
