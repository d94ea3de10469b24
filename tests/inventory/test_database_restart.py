"""A PostgreSQL restart or outage, on a throwaway cluster this test starts, stops and restarts.

After a restart the service must not spend requests on dead pooled connections; while the server is
down every request is a 503 with ``Retry-After`` (one log line each, no traceback), and once it is back
nothing is half-written.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from sync.inventory import catalog as catalog_module
from sync.inventory import migrate
from sync.inventory.catalog import Catalog
from sync.inventory.db import DatabaseUnavailable, make_engine, write_tx
from sync.inventory.idempotency import KeySlot
from sync.inventory.schemas import LocationIn, MovementIn, SkuIn
from sync.inventory.store import PostgresStore, SqlStore
from tests.inventory.conftest import LiveServer, level, seed, settings_for
from tests.inventory.test_concurrency import _fire
from tests.servers import PostgresCluster, throwaway_postgres

pytestmark = [pytest.mark.postgres, pytest.mark.slow]
SHIP = {"type": "shipment", "sku": "SKU-1", "location": "WH", "quantity": 1}
RECEIVE = {"type": "receipt", "sku": "SKU-1", "location": "WH", "quantity": 1}


@pytest.fixture
def cluster() -> Iterator[PostgresCluster]:
    with throwaway_postgres() as started:
        yield started


def _fill_pools(url: str) -> None:
    """Concurrent writes and reads, so both pools hold several idle connections to the server."""
    asyncio.run(_fire(url, "/movements", [RECEIVE] * 12))
    asyncio.run(_fire(url, "/reservations", [{"sku": "SKU-1", "location": "WH", "quantity": 1}] * 6))


def test_restart_costs_no_request_and_health_follows(cluster: PostgresCluster, port: int) -> None:
    with LiveServer(settings_for(cluster.url), port) as live, httpx.Client(base_url=live.url, timeout=30) as base:
        seed(base, on_hand=50)
        _fill_pools(live.url)
        pool = live.app.state.inventory.store.pool
        assert len(pool._idle) >= 4
        cluster.restart()
        answers = [base.post("/movements", json=SHIP if i % 2 else RECEIVE).status_code for i in range(20)]
        answers += [base.post("/reservations", json={"sku": "SKU-1", "location": "WH", "quantity": 1}).status_code,
                    base.get("/levels").status_code]
        assert answers == [201] * 21 + [200]
        assert pool.discarded >= 4  # the dead idle connections were dropped, not used
        assert base.get("/health").json()["dependencies"]["database"]["status"] == "ok"

        cluster.stop()
        health = base.get("/health")
        assert health.status_code == 503
        assert health.json()["dependencies"]["database"]["status"] == "down"
        cluster.start()
        assert base.post("/movements", json=SHIP).status_code == 201  # the first write after it is back
        assert base.get("/health").status_code == 200
        assert base.get("/reconciliation").json()["ok"] is True


def test_outage_is_503_with_retry_after_and_nothing_half_written(cluster: PostgresCluster, port: int,
                                                                 caplog: pytest.LogCaptureFixture) -> None:
    with LiveServer(settings_for(cluster.url), port) as live, httpx.Client(base_url=live.url, timeout=30) as base:
        seed(base, on_hand=50)
        seed(base, sku="SKU-2", location="SHOP")
        _fill_pools(live.url)
        before = (level(base), base.get("/movements", params={"limit": 1000}).json())
        cluster.stop()
        caplog.clear()
        time.sleep(1.5)  # the reservation sweeper meets the outage too
        calls: list[tuple[str, str, Any, dict[str, str]]] = [
            ("POST", "/movements", SHIP, {}), ("POST", "/movements", RECEIVE, {"Idempotency-Key": "k1"}),
            ("POST", "/movements", SHIP | {"type": "transfer", "to_location": "SHOP"}, {}),
            ("POST", "/movements", SHIP | {"sku": "SKU-NEW"}, {}),  # not in the catalog cache: a read first
            ("POST", "/reservations", {"sku": "SKU-1", "location": "WH", "quantity": 1}, {}),
            ("POST", "/skus", {"code": "X-1", "name": "x"}, {"Idempotency-Key": "k2"}),
            ("GET", "/levels", None, {}), ("GET", "/movements", None, {}), ("GET", "/events", None, {}),
            ("GET", "/reconciliation", None, {}), ("GET", "/skus", None, {}),
        ]
        requests = 0
        for _ in range(2):
            for method, path, body, headers in calls:
                resp = base.request(method, path, json=body, headers=headers)
                requests += 1
                assert resp.status_code == 503, (method, path, resp.status_code, resp.text)
                assert resp.json()["error"]["code"] == "service_unavailable"
                assert int(resp.headers["Retry-After"]) >= 1
        records = [r for r in caplog.records if r.levelno >= logging.WARNING]
        assert not [r for r in records if r.exc_info or r.levelno >= logging.ERROR], "an error or traceback"
        assert {r.name for r in records} == {"sync.inventory.db"}  # one warning line per failed attempt
        assert all("\n" not in r.getMessage() for r in records)
        assert requests <= len(records) <= 2 * requests

        cluster.start()
        assert (level(base), base.get("/movements", params={"limit": 1000}).json()) == before
        assert base.get("/reconciliation").json()["ok"] is True
        assert base.post("/movements", json=RECEIVE, headers={"Idempotency-Key": "k1"}).status_code == 201


def test_both_stores_answer_503_when_the_server_is_down(cluster: PostgresCluster) -> None:
    body = MovementIn(type="receipt", sku="A", location="WH", quantity=1)
    engine = make_engine(cluster.url)
    migrate.upgrade(engine)
    write_tx(engine, lambda c: (catalog_module.create_sku(c, SkuIn(code="A", name="a")),
                                catalog_module.create_location(c, LocationIn(code="WH", name="wh"))))

    async def main() -> None:
        for store in (SqlStore(engine, Catalog(engine)), PostgresStore(engine, Catalog(engine))):
            plan = await store.plan(body, "t")  # while the server is up: the codes are cached
            await store.apply(plan)
            await store.ping()
            cluster.stop()
            try:
                for call in (store.apply(await store.plan(body, "t")), store.apply(plan, KeySlot("k", "f", 201)),
                             store.write(lambda c: c.exec_driver_sql("SELECT 1")), store.ping(),
                             store.stored("k"), store.read(lambda c: c.exec_driver_sql("SELECT 1"))):
                    with pytest.raises(DatabaseUnavailable) as down:
                        await call
                    assert down.value.status == 503
                    assert down.value.headers["Retry-After"] == "1"
            finally:
                cluster.start()
            if isinstance(store, PostgresStore):
                await store.pool.close()

    try:
        asyncio.run(main())
    finally:
        engine.dispose()
