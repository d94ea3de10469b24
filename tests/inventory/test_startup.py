"""Start-up: migrations run programmatically, demo data loads once on an empty database."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from sync.inventory.app import create_app
from sync.inventory.db import make_engine, normalize_url
from sync.settings import Settings


@pytest.mark.slow
def test_demo_data_loads_once_and_reconciles(db_url: str) -> None:
    settings = Settings(DATABASE_URL=db_url, DEMO_DATA=True)
    with TestClient(create_app(settings)) as client:
        assert client.get("/health").json()["status"] == "ok"
        skus = client.get("/skus", params={"limit": 1000}).json()["items"]
        assert len(skus) == 36
        assert all(s["price"] > 0 and 0 < s["unit_cost"] < s["price"] and s["lead_time_days"] in (14, 28)
                   for s in skus)
        assert {loc["code"] for loc in client.get("/locations").json()["items"]} == {"MAIN", "STORE"}
        assert client.get("/reconciliation").json()["ok"] is True
        levels = client.get("/levels", params={"location": "MAIN", "limit": 1000}).json()["items"]
        assert sum(level["on_hand"] > 0 for level in levels) == 36  # six weeks of buffer left in stock
        history = client.get("/demand-history").json()
        assert history["freq"] == "W-SUN"
        weeks = sorted({i["date"] for i in history["items"]})
        assert len(weeks) > 100  # two years of weeks, zeros included
        today = datetime.now(UTC).date()
        assert today - timedelta(days=21) <= date.fromisoformat(weeks[-1]) <= today  # history ends last week
        assert date.fromisoformat(weeks[-1]).weekday() == 6
        movements_before = client.get("/movements", params={"limit": 1}).json()
    with TestClient(create_app(settings)) as client:  # second start: nothing loaded again
        assert len(client.get("/skus", params={"limit": 1000}).json()["items"]) == 36
        assert client.get("/movements", params={"limit": 1}).json() == movements_before


def test_default_url_makes_its_folder_and_postgres_urls_get_psycopg(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'nested' / 'dir' / 'inventory.db'}"
    engine = make_engine(url)
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT 1")).scalar_one() == 1
    engine.dispose()
    assert (tmp_path / "nested" / "dir").is_dir()
    assert normalize_url("postgresql://u@h:5432/db") == "postgresql+psycopg://u@h:5432/db"
    assert normalize_url("postgres://u@h/db") == "postgresql+psycopg://u@h/db"
    assert Settings().DATABASE_URL.startswith("sqlite:///var/")


@pytest.mark.slow
def test_replicas_starting_together_load_the_demo_once(db_url: str) -> None:
    from concurrent.futures import ThreadPoolExecutor

    from sync.inventory import demo, migrate

    engines = [make_engine(db_url) for _ in range(3)]
    migrate.upgrade(engines[0])
    with ThreadPoolExecutor(3) as pool:
        results = list(pool.map(demo.load_if_empty, engines))
    assert sum(r is not None for r in results) == 1
    with engines[0].connect() as conn:
        assert conn.execute(sa.text("SELECT COUNT(*) FROM skus")).scalar_one() == 36
        assert conn.execute(sa.text("SELECT COUNT(*) FROM movements WHERE reason = 'opening_balance'")
                            ).scalar_one() == 36
    for engine in engines:
        engine.dispose()
