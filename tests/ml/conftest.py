"""Fixtures for the ML tests: systems that save under a per-test temporary ML_MODEL_PATH."""

from __future__ import annotations

from pathlib import Path

import pytest

from sync.ml import MLInventoryIntelligence
from sync.settings import Settings
from tests.ml.data import FRAMES, MODEL_DATA


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(ML_MODEL_PATH=tmp_path / "models", ML_TRAINING_DATA_PATH=tmp_path / "data")


@pytest.fixture
def ml(settings: Settings) -> MLInventoryIntelligence:
    return MLInventoryIntelligence(settings=settings)


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> MLInventoryIntelligence:
    """All three built-ins trained once per module (saved as v1 of each)."""
    root = tmp_path_factory.mktemp("trained")
    system = MLInventoryIntelligence(settings=Settings(ML_MODEL_PATH=root / "models"))
    for model_name, data_type in MODEL_DATA.items():
        system.add_training_data(data_type, FRAMES[data_type]())
        assert system.train_model(model_name, data_type)
    return system
