"""``python -m sync.ml``: train from a CSV, list versions, roll back, with errors as exit code 2."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sync.ml.__main__ import main
from tests.ml.data import demand_frame

pytestmark = pytest.mark.slow


def test_train_versions_rollback(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                 capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("ML_MODEL_PATH", str(tmp_path / "models"))
    csv = tmp_path / "demand.csv"
    demand_frame(200).to_csv(csv, index=False)
    assert main(["train", "demand_forecast", "--csv", str(csv)]) == 0
    assert "selecting demand_forecast" in capsys.readouterr().out  # the progress bar
    assert main(["train", "demand_forecast", "--csv", str(csv), "--quiet"]) == 0
    assert json.loads(capsys.readouterr().out)["version"] == "v2"
    assert main(["rollback", "demand_forecast"]) == 0
    assert capsys.readouterr().out.strip() == "demand_forecast: v1"
    assert main(["versions", "demand_forecast"]) == 0
    assert [v["current"] for v in json.loads(capsys.readouterr().out)] == [True, False]
    demand_frame(200).drop(columns="price").to_csv(csv, index=False)
    assert main(["train", "demand_forecast", "--csv", str(csv), "--quiet"]) == 2
    assert "price" in capsys.readouterr().err
