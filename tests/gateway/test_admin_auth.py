"""Admin routes take the services' one admin check: the admin token, or an admin-scoped JWT when JWT is
configured; the caller's address is never enough (loopback included: behind a proxy everyone is loopback)."""

from __future__ import annotations

import pytest

from sync.api_gateway import APIGateway
from sync.gateway.auth import issue_token
from tests.gateway.conftest import ADMIN, SECRET, direct, make_settings

pytestmark = pytest.mark.anyio
SERVICE = {"name": "x-1", "url": "http://127.0.0.1:9", "health_check_url": "http://127.0.0.1:9/health"}
LIMIT = {"requests_per_minute": 10, "requests_per_hour": 100, "burst_limit": 5}


async def test_without_jwt_the_admin_token_is_needed_from_loopback_too() -> None:
    gateway = APIGateway(settings=make_settings())
    wrong = {"Authorization": "Bearer not-the-admin-token"}
    for host in ("127.0.0.1", "203.0.113.50"):
        async with direct(gateway, client_host=host) as client:
            r = await client.post("/services/x", json=SERVICE)
            assert r.status_code == 401 and r.json()["error"]["code"] == "unauthorized"
            assert (await client.post("/rate-limits/x/*", json=LIMIT)).status_code == 401
            assert (await client.post("/services/x", json=SERVICE, headers=wrong)).status_code == 403
            assert (await client.put("/debug", json={"enabled": True}, headers=wrong)).status_code == 403
            assert (await client.get("/health")).status_code == 200
    assert gateway.registry.get("x") is None and "x/*" not in gateway.rules.rules and not gateway.debug_mode
    async with direct(gateway, client_host="203.0.113.50") as remote:
        assert (await remote.post("/services/x", json=SERVICE, headers=ADMIN)).status_code == 201
        assert (await remote.post("/rate-limits/x/*", json=LIMIT, headers=ADMIN)).status_code == 200
    assert gateway.registry.get("x") is not None and gateway.rules.rules["x/*"].burst_limit == 5


async def test_without_a_token_or_jwt_the_admin_routes_are_closed() -> None:
    gateway = APIGateway(settings=make_settings(ADMIN_TOKEN=None))
    async with direct(gateway, client_host="127.0.0.1") as local:
        r = await local.post("/services/x", json=SERVICE, headers=ADMIN)
        assert r.status_code == 403 and "ADMIN_TOKEN" in r.json()["error"]["message"]
        assert (await local.get("/services")).status_code == 200  # reading stays open without JWT
    assert gateway.registry.get("x") is None


async def test_with_jwt_admin_routes_need_the_admin_scope() -> None:
    gateway = APIGateway(settings=make_settings(JWT_SECRET=SECRET))
    reader = {"Authorization": "Bearer " + issue_token(SECRET, "viewer", ["read"])}
    admin = {"Authorization": "Bearer " + issue_token(SECRET, "ops", ["admin"])}
    async with direct(gateway, client_host="127.0.0.1") as local:
        # with JWT configured even loopback callers need a token
        assert (await local.post("/services/x", json=SERVICE)).status_code == 401
    async with direct(gateway, client_host="203.0.113.50") as remote:
        assert (await remote.post("/services/x", json=SERVICE)).status_code == 401
        assert (await remote.get("/services")).status_code == 401
        assert (await remote.get("/rate-limits")).status_code == 401
        assert (await remote.post("/services/x", json=SERVICE, headers=reader)).status_code == 403
        assert (await remote.post("/rate-limits/x/*", json=LIMIT, headers=reader)).status_code == 403
        assert (await remote.get("/services", headers=reader)).status_code == 200
        assert (await remote.post("/services/x", json=SERVICE, headers=admin)).status_code == 201
        assert (await remote.post("/rate-limits/x/*", json=LIMIT, headers=admin)).status_code == 200
        forged = {"Authorization": "Bearer " + issue_token("another-secret-of-enough-length!!", "ops", ["admin"])}
        assert (await remote.post("/rate-limits/y/*", json=LIMIT, headers=forged)).status_code == 401
        # the admin token works with JWT on too (one rule for every admin route), and reads as well
        assert (await remote.post("/rate-limits/x/by-token/*", json=LIMIT, headers=ADMIN)).status_code == 200
        assert (await remote.get("/rate-limits", headers=ADMIN)).status_code == 200
        assert (await remote.get("/services", headers={"Authorization": "Bearer not-a-token"})).status_code == 401
    assert gateway.rules.rules["x/*"].burst_limit == 5 and "y/*" not in gateway.rules.rules
    assert "x/by-token/*" in gateway.rules.rules
