"""Admin routes: loopback-only without JWT; an admin-scoped token with JWT; anonymous remote refused."""

from __future__ import annotations

import pytest

from sync.api_gateway import APIGateway
from sync.gateway.auth import issue_token
from tests.gateway.conftest import SECRET, direct, make_settings

pytestmark = pytest.mark.anyio
SERVICE = {"name": "x-1", "url": "http://127.0.0.1:9", "health_check_url": "http://127.0.0.1:9/health"}
LIMIT = {"requests_per_minute": 10, "requests_per_hour": 100, "burst_limit": 5}


async def test_without_jwt_only_loopback_may_change_the_gateway() -> None:
    gateway = APIGateway(settings=make_settings())
    async with direct(gateway, client_host="203.0.113.50") as remote:
        r = await remote.post("/services/x", json=SERVICE)
        assert r.status_code == 403 and r.json()["error"]["code"] == "forbidden"
        assert (await remote.post("/rate-limits/x/*", json=LIMIT)).status_code == 403
        assert (await remote.get("/health")).status_code == 200
    assert gateway.registry.get("x") is None and "x/*" not in gateway.rules.rules
    async with direct(gateway, client_host="127.0.0.1") as local:
        assert (await local.post("/services/x", json=SERVICE)).status_code == 201
        assert (await local.post("/rate-limits/x/*", json=LIMIT)).status_code == 200


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
    assert gateway.rules.rules["x/*"].burst_limit == 5 and "y/*" not in gateway.rules.rules
