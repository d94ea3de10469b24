"""A database that goes away gives 503s in the error shape (never a 500 or a stack trace)."""

from __future__ import annotations

import psycopg
import pytest
from fastapi.testclient import TestClient

from sync.inventory.app import create_app
from tests.inventory.conftest import seed, settings_for

pytestmark = pytest.mark.slow


def test_lost_database_is_503_everywhere(postgres_url: str) -> None:
    with TestClient(create_app(settings_for(postgres_url)), raise_server_exceptions=False) as client:
        seed(client, on_hand=5)
        assert client.post("/movements", json={"type": "shipment", "sku": "SKU-1", "location": "WH",
                                               "quantity": 1}).status_code == 201
        head, _, name = postgres_url.rpartition("/")
        with psycopg.connect(f"{head}/postgres", autocommit=True) as admin:
            admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
        calls = [("GET", "/levels", None), ("GET", "/movements", None), ("GET", "/events", None),
                 ("POST", "/movements", {"type": "shipment", "sku": "SKU-1", "location": "WH", "quantity": 1}),
                 ("POST", "/reservations", {"sku": "SKU-1", "location": "WH", "quantity": 1})]
        for method, path, body in calls:
            resp = client.request(method, path, json=body)
            assert resp.status_code == 503, (path, resp.status_code, resp.text)
            assert resp.json()["error"]["code"] == "service_unavailable"
        health = client.get("/health")
        assert health.status_code == 503
        assert health.json()["dependencies"]["database"]["status"] == "down"
