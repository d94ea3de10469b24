"""Inventory test fixtures: a fresh database per test (SQLite file or real PostgreSQL), an in-process
client for request/validation tests, and a real uvicorn server for the concurrency tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from sync.inventory.app import create_app
from sync.settings import Settings
from tests.serving import running


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.slow)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Each test that uses it runs twice: on a fresh SQLite file and on a fresh PostgreSQL database (a new
    database per test: slow, so ``make test-fast`` runs the SQLite half)."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'inventory.db'}"
    return str(request.getfixturevalue("postgres_url"))


def settings_for(url: str, **overrides: object) -> Settings:
    return Settings(DATABASE_URL=url, DEMO_DATA=False, **overrides)  # type: ignore[arg-type]


@pytest.fixture
def client(db_url: str) -> Iterator[TestClient]:
    with TestClient(create_app(settings_for(db_url))) as test_client:
        yield test_client


class LiveServer:
    """The app served by a real uvicorn in a background thread (``tests.serving.running``), on ``port``."""

    def __init__(self, settings: Settings, port: int) -> None:
        self.app = create_app(settings)
        self.url = f"http://127.0.0.1:{port}"
        self._serving = running(self.app, port, loop="asyncio", http="httptools")

    def __enter__(self) -> LiveServer:
        self._serving.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self._serving.__exit__(None, None, None)


@pytest.fixture
def live(db_url: str, port: int) -> Iterator[LiveServer]:
    with LiveServer(settings_for(db_url), port) as server:
        yield server


def seed(base: httpx.Client | TestClient, *, sku: str = "SKU-1", location: str = "WH", on_hand: int = 0,
         reorder_point: int = 0) -> None:
    """Create one SKU and one location, and receive ``on_hand`` units."""
    assert base.post("/skus", json={"code": sku, "name": f"{sku} name", "reorder_point": reorder_point,
                                    "price": "2.50", "unit_cost": "1.20"}).status_code == 201
    if base.get("/locations").json()["items"] == [] or location not in {
            loc["code"] for loc in base.get("/locations").json()["items"]}:
        assert base.post("/locations", json={"code": location, "name": location}).status_code == 201
    if on_hand:
        resp = base.post("/movements", json={"type": "receipt", "sku": sku, "location": location,
                                             "quantity": on_hand})
        assert resp.status_code == 201, resp.text


def level(base: httpx.Client | TestClient, sku: str = "SKU-1", location: str = "WH") -> dict[str, int]:
    items = base.get("/levels", params={"sku": sku, "location": location}).json()["items"]
    return items[0] if items else {}
