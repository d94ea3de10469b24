"""Every variable of the seed's Configuration section is read, with a documented default."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from pydantic import ValidationError

from sync.settings import Settings, csv_list

SEED_VARIABLES = [
    "ML_MODEL_PATH", "ML_TRAINING_DATA_PATH", "ML_PREDICTION_CACHE_TTL", "ML_ANOMALY_THRESHOLD",
    "GATEWAY_HOST", "GATEWAY_PORT", "REDIS_URL", "JWT_SECRET", "GATEWAY_TIMEOUT",
    "RATE_LIMIT_REDIS_URL", "RATE_LIMIT_DEFAULT_PER_MINUTE", "RATE_LIMIT_DEFAULT_PER_HOUR",
    "SERVICE_REGISTRY_URL", "HEALTH_CHECK_INTERVAL", "CIRCUIT_BREAKER_THRESHOLD", "CIRCUIT_BREAKER_TIMEOUT",
]


def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in Settings.model_fields:
        monkeypatch.delenv(name, raising=False)


def test_every_seed_variable_is_a_setting_with_a_default(monkeypatch: pytest.MonkeyPatch) -> None:
    clean_env(monkeypatch)
    settings = Settings()
    for name in [*SEED_VARIABLES, "DATABASE_URL"]:
        assert name in Settings.model_fields, name
        assert Settings.model_fields[name].description, f"{name} has no description for the README"
    assert settings.GATEWAY_PORT == 8000
    assert settings.DATABASE_URL.startswith("sqlite:///var/")
    assert settings.REDIS_URL is None and settings.RATE_LIMIT_REDIS_URL is None


def test_seed_values_are_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    clean_env(monkeypatch)
    seed = {
        "ML_MODEL_PATH": "/models", "ML_TRAINING_DATA_PATH": "/data", "ML_PREDICTION_CACHE_TTL": "300",
        "ML_ANOMALY_THRESHOLD": "0.1", "GATEWAY_HOST": "0.0.0.0", "GATEWAY_PORT": "8000",
        "REDIS_URL": "redis://localhost:6379", "JWT_SECRET": "your-jwt-secret-key", "GATEWAY_TIMEOUT": "30",
        "RATE_LIMIT_REDIS_URL": "redis://localhost:6380", "RATE_LIMIT_DEFAULT_PER_MINUTE": "100",
        "RATE_LIMIT_DEFAULT_PER_HOUR": "1000", "SERVICE_REGISTRY_URL": "http://localhost:8500",
        "HEALTH_CHECK_INTERVAL": "30", "CIRCUIT_BREAKER_THRESHOLD": "5", "CIRCUIT_BREAKER_TIMEOUT": "60",
    }
    for key, value in seed.items():
        monkeypatch.setenv(key, value)
    settings = Settings()
    assert settings.ML_MODEL_PATH == Path("/models")
    assert settings.JWT_SECRET is not None and settings.JWT_SECRET.get_secret_value() == "your-jwt-secret-key"
    assert "your-jwt-secret-key" not in repr(settings)  # secrets are masked
    assert settings.RATE_LIMIT_REDIS_URL == "redis://localhost:6380"
    assert settings.rate_limit_redis_url == "redis://localhost:6380"  # its own setting wins over REDIS_URL
    monkeypatch.delenv("RATE_LIMIT_REDIS_URL")
    assert Settings().rate_limit_redis_url == "redis://localhost:6379"  # else the shared Redis
    assert settings.CIRCUIT_BREAKER_THRESHOLD == 5


def test_bad_values_are_refused_with_the_variable_named(monkeypatch: pytest.MonkeyPatch) -> None:
    clean_env(monkeypatch)
    monkeypatch.setenv("GATEWAY_PORT", "eighty")
    with pytest.raises(ValidationError, match="GATEWAY_PORT"):
        Settings()


def test_readme_documents_every_setting() -> None:
    readme = (Path(__file__).parent.parent / "README.md").read_text()
    documented = set(re.findall(r"^\| `([A-Z_]+)` \|", readme, flags=re.MULTILINE))
    assert set(Settings.model_fields) <= documented, set(Settings.model_fields) - documented


def test_csv_list() -> None:
    assert csv_list(" a, b,,c ") == ["a", "b", "c"]
    assert csv_list("") == []
