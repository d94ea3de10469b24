"""No oversell under concurrency, over real HTTP against a real uvicorn server (SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from tests.inventory.conftest import LiveServer, level, seed

pytestmark = pytest.mark.slow

CONTENDERS = 200
STOCK = 50


async def _fire(url: str, path: str, bodies: list[dict[str, Any]], headers: list[dict[str, str]] | None = None,
                ) -> list[httpx.Response]:
    limits = httpx.Limits(max_connections=len(bodies), max_keepalive_connections=len(bodies))
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=120) as client:
        heads = headers or [{} for _ in bodies]
        return list(await asyncio.gather(*(client.post(path, json=b, headers=h) for b, h in zip(bodies, heads,
                                                                                               strict=True))))


def _ledger_sum(base: httpx.Client, sku: str, location: str) -> int:
    total, cursor = 0, None
    while True:
        params: dict[str, Any] = {"sku": sku, "location": location, "limit": 1000}
        if cursor:
            params["cursor"] = cursor
        page = base.get("/movements", params=params).json()
        total += sum(m["quantity"] for m in page["items"])
        cursor = page["next_cursor"]
        if cursor is None:
            return total


def test_200_concurrent_shipments_for_50_units_admit_exactly_50(live: LiveServer) -> None:
    with httpx.Client(base_url=live.url) as base:
        seed(base, on_hand=STOCK)
        body = {"type": "shipment", "sku": "SKU-1", "location": "WH", "quantity": 1}
        responses = asyncio.run(_fire(live.url, "/movements", [body] * CONTENDERS))
        statuses = [r.status_code for r in responses]
        assert statuses.count(201) == STOCK
        assert statuses.count(409) == CONTENDERS - STOCK
        after = level(base)
        assert after["on_hand"] == 0
        assert _ledger_sum(base, "SKU-1", "WH") == after["on_hand"]
        assert sorted(r.json()["movement"]["on_hand_after"] for r in responses if r.status_code == 201) == list(
            range(STOCK))
        assert base.get("/reconciliation").json()["ok"] is True


def test_200_concurrent_reservations_for_50_units_admit_exactly_50(live: LiveServer) -> None:
    with httpx.Client(base_url=live.url) as base:
        seed(base, on_hand=STOCK)
        body = {"sku": "SKU-1", "location": "WH", "quantity": 1, "ttl_seconds": 600}
        responses = asyncio.run(_fire(live.url, "/reservations", [body] * CONTENDERS))
        statuses = [r.status_code for r in responses]
        assert statuses.count(201) == STOCK
        assert statuses.count(409) == CONTENDERS - STOCK
        after = level(base)
        assert (after["on_hand"], after["reserved"], after["available"]) == (STOCK, STOCK, 0)
        shipment = base.post("/movements", json={"type": "shipment", "sku": "SKU-1", "location": "WH",
                                                 "quantity": 1})
        assert shipment.status_code == 409  # reserved units are not available to ship
        assert base.get("/reconciliation").json()["ok"] is True


def test_mixed_concurrent_traffic_keeps_ledger_and_levels_equal(live: LiveServer) -> None:
    with httpx.Client(base_url=live.url) as base:
        seed(base, on_hand=20)
        base.post("/locations", json={"code": "STORE", "name": "Store"})
        seed(base, sku="SKU-2", on_hand=20)
        bodies: list[dict[str, Any]] = []
        for i in range(CONTENDERS):
            sku = "SKU-1" if i % 2 else "SKU-2"
            kind = i % 5
            if kind == 0:
                bodies.append({"type": "receipt", "sku": sku, "location": "WH", "quantity": 2})
            elif kind in (1, 2):
                bodies.append({"type": "shipment", "sku": sku, "location": "WH", "quantity": 3})
            elif kind == 3:  # opposite transfers: must neither deadlock nor oversell
                src, dst = ("WH", "STORE") if i % 3 else ("STORE", "WH")
                bodies.append({"type": "transfer", "sku": sku, "location": src, "to_location": dst, "quantity": 1})
            else:
                bodies.append({"type": "return", "sku": sku, "location": "WH", "quantity": 1})
        responses = asyncio.run(_fire(live.url, "/movements", bodies))
        assert {r.status_code for r in responses} <= {201, 409}
        for sku in ("SKU-1", "SKU-2"):
            for loc in ("WH", "STORE"):
                current = level(base, sku, loc)
                if current:
                    assert current["on_hand"] >= 0
                    assert _ledger_sum(base, sku, loc) == current["on_hand"]
        report = base.get("/reconciliation").json()
        assert report["ok"] is True, report
