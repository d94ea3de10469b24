"""The seed document's test file: the classes and tests its Testing section names, run against the installed package.

The seed runs them as ``python test_improvements.py::TestMLIntegration``; Python itself cannot open a file named
that way, so this file also takes the part after ``::`` as an argument. Every form below works:

    python test_improvements.py                                   # everything
    python test_improvements.py TestMLIntegration                 # one class (the seed's ::TestMLIntegration)
    python test_improvements.py test_ml_integration_performance   # one test
    python -m pytest test_improvements.py::TestMLIntegration::test_train_model -v
    python -m pytest test_improvements.py --cov=sync --cov-report=html

Everything here is real: models trained on data, gateways served over HTTP by uvicorn in front of real HTTP
upstreams (small FastAPI apps, and the inventory service itself on SQLite). Speed is measured in ``bench/``; the
performance test asserts what a caller relies on at volume (every answer present and finite) and prints rates.
"""

from __future__ import annotations

import math
import sys
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import requests
from fastapi import FastAPI

from sync.api_gateway import APIGateway, RateLimit, ServiceEndpoint
from sync.ml_integration import MLInventoryIntelligence
from sync.settings import Settings
from tests.ml.data import demand_frame
from tests.serving import free_port, running

FEATURES = {"historical_demand": 120, "seasonality": 0.5, "trend": 10, "price": 50, "promotions": 1}


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> MLInventoryIntelligence:
    ml = MLInventoryIntelligence(model_path=str(tmp_path_factory.mktemp("models")))
    ml.add_training_data("demand", demand_frame(800))
    assert ml.train_model("demand_forecast", "demand") is True
    return ml


class TestMLIntegration:
    @pytest.mark.slow
    def test_train_model(self, tmp_path: Path) -> None:
        ml = MLInventoryIntelligence(model_path=str(tmp_path))
        ml.add_training_data("demand", demand_frame(800))
        assert ml.train_model("demand_forecast", "demand") is True
        assert ml.models["demand_forecast"].is_trained
        assert any(tmp_path.iterdir()), "a trained model is saved, versioned, under model_path"

    @pytest.mark.slow
    def test_prediction_follows_the_signal(self, trained: MLInventoryIntelligence) -> None:
        base = trained.predict("demand_forecast", FEATURES)
        promoted_cheaper = trained.predict("demand_forecast", dict(FEATURES, promotions=1, price=10))
        unpromoted_dearer = trained.predict("demand_forecast", dict(FEATURES, promotions=0, price=95))
        assert 0.0 <= base.confidence <= 1.0
        assert base.lower <= base.prediction <= base.upper
        assert promoted_cheaper.prediction > unpromoted_dearer.prediction + 20  # truth: +15 promoted, +25.5 cheaper

    def test_untrained_models_fall_back_and_say_so(self, tmp_path: Path) -> None:
        result = MLInventoryIntelligence(model_path=str(tmp_path)).optimize_inventory_with_ml(
            {"historical_demand": 100, "price": 50, "cost": 30, "holding_cost": 5, "ordering_cost": 50})
        for figure in ("predicted_demand", "predicted_lead_time", "optimal_price", "optimal_quantity",
                       "safety_stock", "reorder_point"):
            assert math.isfinite(float(result[figure])), figure
        assert result["reorder_point"] >= result["safety_stock"] > 0
        assert result["sources"]["predicted_demand"].startswith("fallback:")  # no model was trained, and it says so
        assert "not trained" in result["sources"]["optimal_price"]

    @pytest.mark.slow
    def test_anomalies_and_report(self, trained: MLInventoryIntelligence) -> None:
        data = demand_frame(400, seed=3)
        data.loc[7, "historical_demand"] = 5_000  # one planted outlier
        found = trained.detect_anomalies(data, ["historical_demand", "seasonality", "trend"])
        assert any(getattr(a, "index", None) == 7 or (isinstance(a, dict) and a.get("index") == 7) for a in found)
        report = trained.generate_ml_report()
        assert 0.0 <= report["overall_performance"]["average_accuracy"] <= 1.0


@pytest.mark.slow
def test_ml_integration_performance(trained: MLInventoryIntelligence) -> None:
    """Predictions at volume: every row answered with a finite figure (rates printed; bench/ holds the goals)."""
    rows = demand_frame(2_000, seed=9).drop(columns="demand")
    started = time.perf_counter()
    batch = trained.predict_batch("demand_forecast", rows)
    batch_s = time.perf_counter() - started
    started = time.perf_counter()
    singles = [trained.predict("demand_forecast", FEATURES) for _ in range(200)]
    single_s = time.perf_counter() - started
    assert len(batch) == len(rows)
    values = [r.prediction for r in batch]
    assert all(math.isfinite(v) for v in values)
    assert len({round(s.prediction, 9) for s in singles}) == 1  # the same features, the same answer
    print(f"\nbatch: {len(rows) / batch_s:,.0f} rows/s; single predict: {len(singles) / single_s:,.0f}/s")


def _named_upstream(name: str) -> FastAPI:
    """A real HTTP upstream that says which instance answered."""
    app = FastAPI()

    @app.get("/health")
    def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/{path:path}")
    def anything(path: str) -> dict[str, str]:
        return {"instance": name, "path": path}

    return app


def _gateway_settings(**overrides: object) -> Settings:
    base: dict[str, object] = {"REDIS_URL": None, "RATE_LIMIT_REDIS_URL": None, "JWT_SECRET": None,
                               "HEALTH_CHECK_INTERVAL": 3600, "GATEWAY_SERVICES": ""}
    base.update(overrides)
    return Settings(**base)  # type: ignore[arg-type]


@contextmanager
def _gateway(gateway: APIGateway) -> Iterator[str]:
    with running(gateway.app, free_port()) as url:
        yield url


def _endpoint(name: str, url: str, **kw: object) -> ServiceEndpoint:
    return ServiceEndpoint(name=name, url=url, health_check_url=f"{url}/health", **kw)  # type: ignore[arg-type]


class TestAPIGateway:
    def test_routes_by_prefix_and_keeps_the_query(self) -> None:
        with running(_named_upstream("a"), free_port()) as up:
            gateway = APIGateway(settings=_gateway_settings())
            gateway.add_service("inventory", _endpoint("inv-1", up))
            with _gateway(gateway) as gw:
                resp = requests.get(f"{gw}/inventory/levels/x", params={"sku": "A1"}, timeout=10)
                assert resp.status_code == 200 and resp.json() == {"instance": "a", "path": "levels/x"}
                assert requests.get(f"{gw}/nowhere/x", timeout=10).status_code == 404

    @pytest.mark.slow
    def test_rate_limit_refuses_past_the_limit(self) -> None:
        with running(_named_upstream("a"), free_port()) as up:
            gateway = APIGateway(settings=_gateway_settings())
            gateway.add_service("inventory", _endpoint("inv-1", up))
            gateway.set_rate_limit("inventory/*", RateLimit(requests_per_minute=5, requests_per_hour=100,
                                                            burst_limit=5))
            with _gateway(gateway) as gw:
                codes = [requests.get(f"{gw}/inventory/x", timeout=10).status_code for _ in range(8)]
        assert codes[:5] == [200] * 5 and codes[5:] == [429] * 3

    def test_jwt_is_required_when_configured(self) -> None:
        import jwt

        secret = "a-test-secret-long-enough-for-hs256-signing"
        with running(_named_upstream("a"), free_port()) as up:
            gateway = APIGateway(settings=_gateway_settings(JWT_SECRET=secret))
            gateway.add_service("inventory", _endpoint("inv-1", up))
            with _gateway(gateway) as gw:
                assert requests.get(f"{gw}/inventory/x", timeout=10).status_code == 401
                token = jwt.encode({"sub": "planner", "exp": int(time.time()) + 60}, secret, algorithm="HS256")
                ok = requests.get(f"{gw}/inventory/x", headers={"Authorization": f"Bearer {token}"}, timeout=10)
                assert ok.status_code == 200


class TestLoadBalancer:
    @pytest.mark.slow
    def test_weighted_round_robin_follows_the_weights(self) -> None:
        with running(_named_upstream("a"), free_port()) as a, running(_named_upstream("b"), free_port()) as b:
            gateway = APIGateway(settings=_gateway_settings())
            gateway.add_service("inventory", _endpoint("inv-a", a, weight=3))
            gateway.add_service("inventory", _endpoint("inv-b", b, weight=1))
            with _gateway(gateway) as gw:
                served = Counter(requests.get(f"{gw}/inventory/x", timeout=10).json()["instance"] for _ in range(40))
        assert served == Counter({"a": 30, "b": 10})

    def test_a_dead_instance_is_skipped(self) -> None:
        dead = f"http://127.0.0.1:{free_port()}"  # nothing listens there
        with running(_named_upstream("a"), free_port()) as a:
            gateway = APIGateway(settings=_gateway_settings())
            gateway.add_service("inventory", _endpoint("inv-dead", dead, circuit_breaker_threshold=2))
            gateway.add_service("inventory", _endpoint("inv-a", a))
            with _gateway(gateway) as gw:
                answers = [requests.get(f"{gw}/inventory/x", timeout=10) for _ in range(10)]
        assert [r.status_code for r in answers] == [200] * 10  # idempotent GETs retried on the live instance
        assert {r.json()["instance"] for r in answers} == {"a"}


@pytest.mark.slow
def test_api_gateway_integration(tmp_path: Path) -> None:
    """The gateway in front of the real inventory service: a write and its read, through one entry point."""
    from sync.inventory.app import create_app

    inventory = create_app(Settings(DATABASE_URL=f"sqlite:///{tmp_path / 'inv.db'}", DEMO_DATA=False))
    with running(inventory, free_port()) as inv:
        gateway = APIGateway(settings=_gateway_settings())
        gateway.add_service("inventory", _endpoint("inventory-1", inv))
        with _gateway(gateway) as gw:
            base = f"{gw}/inventory"
            assert requests.post(f"{base}/skus", json={"code": "SEED-1", "name": "Seed test"}, timeout=10).ok
            assert requests.post(f"{base}/locations", json={"code": "WH", "name": "Warehouse"}, timeout=10).ok
            moved = requests.post(f"{base}/movements", timeout=10, headers={"Idempotency-Key": "seed-1"},
                                  json={"type": "receipt", "sku": "SEED-1", "location": "WH", "quantity": 12})
            replay = requests.post(f"{base}/movements", timeout=10, headers={"Idempotency-Key": "seed-1"},
                                   json={"type": "receipt", "sku": "SEED-1", "location": "WH", "quantity": 12})
            level = requests.get(f"{base}/levels", params={"sku": "SEED-1", "location": "WH"}, timeout=10).json()
            assert moved.status_code == 201 and replay.status_code == 201
            items = level["items"] if "items" in level else [level]
            assert items[0]["on_hand"] == 12  # the replayed receipt was not applied twice
            assert requests.get(f"{gw}/inventory/health", timeout=10).status_code == 200


if __name__ == "__main__":
    # ``python test_improvements.py [Name ...]``: pytest on this file, or on the named classes and tests.
    here = Path(__file__).resolve()
    names = [arg.split("::", 1)[-1] for arg in sys.argv[1:] if not arg.startswith("-")]
    options = [arg for arg in sys.argv[1:] if arg.startswith("-")]
    targets = [f"{here}::{name}" for name in names] or [str(here)]
    # this module imported the package before pytest started, so pytest cannot rewrite those imports: say nothing
    sys.exit(pytest.main([*targets, "-W", "ignore::pytest.PytestAssertRewriteWarning", *options]))
