"""The import's admin check through the real gateway: a request through the gateway reaches the service
from loopback, and that alone must not open the admin route (issue 14, item 11)."""

from __future__ import annotations

from contextlib import AbstractContextManager
from pathlib import Path

import httpx
import pytest

from sync.gateway.auth import issue_token
from sync.gateway.service import create_gateway
from sync.settings import Settings
from tests.inventory.conftest import LiveServer, settings_for
from tests.serving import running

pytestmark = pytest.mark.slow

CSV = b"sku,date,quantity,type\nGW-1,2024-01-02,3,receipt\n"
SECRET = "gateway-jwt-secret-for-tests-0123456789"


def _gateway(settings: Settings) -> AbstractContextManager[str]:
    return running(create_gateway(settings).app)


def test_through_the_gateway_loopback_alone_does_not_open_the_import(tmp_path: Path, port: int) -> None:
    """No ADMIN_TOKEN and no JWT on the service: every caller through the gateway is loopback to it, and
    the admin route stays closed (before: 201 for anyone who could reach the gateway)."""
    with LiveServer(settings_for(f"sqlite:///{tmp_path / 'a.db'}"), port) as inventory, \
            _gateway(Settings(GATEWAY_SERVICES=f"inventory={inventory.url}")) as gateway, \
            httpx.Client(timeout=30) as http:
        resp = http.post(f"{gateway}/inventory/imports", content=CSV, headers={"Content-Type": "text/csv"})
        assert resp.status_code == 403, resp.text
        assert http.get(f"{inventory.url}/movements").json()["items"] == []


def test_through_the_gateway_the_import_takes_the_token_or_an_admin_jwt(tmp_path: Path, port: int) -> None:
    settings = settings_for(f"sqlite:///{tmp_path / 'b.db'}", JWT_SECRET=SECRET, ADMIN_TOKEN="s3cret")
    with LiveServer(settings, port) as inventory, httpx.Client(timeout=30) as http:
        with _gateway(Settings(GATEWAY_SERVICES=f"inventory={inventory.url}")) as gateway:
            url = f"{gateway}/inventory/imports"
            assert http.post(url, content=CSV, headers={"Content-Type": "text/csv"}).status_code == 401
            admin = {"Content-Type": "text/csv", "Authorization": "Bearer s3cret"}
            assert http.post(url, content=CSV, headers=admin).status_code == 201
        # a gateway with JWT: an admin-scoped token passes the gateway and is accepted by the service
        with _gateway(Settings(GATEWAY_SERVICES=f"inventory={inventory.url}", JWT_SECRET=SECRET)) as gateway:
            url = f"{gateway}/inventory/imports"
            reader = {"Content-Type": "text/csv", "Authorization": f"Bearer {issue_token(SECRET, 'ops', ['read'])}"}
            assert http.post(url, content=CSV, headers=reader).status_code == 403
            token = issue_token(SECRET, "ops", ["admin"])
            resp = http.post(url, content=CSV, headers={"Content-Type": "text/csv", "Authorization": f"Bearer {token}"})
            assert resp.status_code == 201, resp.text
        assert http.get(f"{inventory.url}/levels", params={"sku": "GW-1"}).json()["items"][0]["on_hand"] == 6
