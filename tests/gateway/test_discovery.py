"""Service discovery that forgets: registrations with a TTL and a heartbeat, expiry (also on a second
gateway process sharing Redis), deregistration with DELETE; static instances never expire."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest

from sync.gateway.gateway import APIGateway
from sync.supervisor import Heartbeat, ServiceProcess
from tests.gateway.conftest import ADMIN, ADMIN_TOKEN, FakeClock, direct, endpoint, make_settings
from tests.gateway.test_redis import gateway_process

pytestmark = pytest.mark.anyio


def body(up) -> dict[str, str]:  # type: ignore[no-untyped-def]
    return {"name": up.name, "url": up.url, "health_check_url": up.url + "/health"}


async def test_registration_with_ttl_expires_unless_renewed_static_never(upstreams) -> None:  # type: ignore[no-untyped-def]
    static, dynamic = await upstreams("static-1"), await upstreams("dyn-1")
    clock = FakeClock()
    gateway = APIGateway(settings=make_settings(), clock=clock)
    gateway.add_service("static", endpoint(static))
    async with direct(gateway) as client:
        r = await client.post("/services/dyn?ttl=10", headers=ADMIN, json=body(dynamic))
        assert r.status_code == 201 and r.json()["ttl"] == 10
        assert (await client.get("/dyn/x")).json()["instance"] == "dyn-1"
        for _ in range(3):  # renewed before each TTL runs out: stays
            clock.advance(8)
            assert await gateway.expire_instances() == []
            assert (await client.post("/services/dyn?ttl=10", headers=ADMIN, json=body(dynamic))).status_code == 201
        clock.advance(8)
        assert await gateway.expire_instances() == []
        assert (await client.get("/dyn/x")).status_code == 200
        clock.advance(2.5)  # 10.5 s since the last renewal
        assert await gateway.expire_instances() == ["dyn-1"]
        gone = await client.get("/dyn/x")
        assert gone.status_code == 404 and gone.json()["error"]["details"] == {"service": "dyn"}
        clock.advance(100_000)
        assert await gateway.expire_instances() == []
        assert (await client.get("/static/x")).json()["instance"] == "static-1"
        # a TTL'd registration of a statically configured instance does not make it expire
        assert (await client.post("/services/static?ttl=1", headers=ADMIN, json=body(static))).status_code == 201
        clock.advance(10)
        assert await gateway.expire_instances() == []
        services = (await client.get("/services")).json()["services"]
        assert services["static"]["instances"][0]["ttl"] is None


async def test_bad_ttl_is_a_422_naming_it(upstreams) -> None:  # type: ignore[no-untyped-def]
    up = await upstreams("dyn-1")
    async with direct(APIGateway(settings=make_settings())) as client:
        for bad in ("0", "-3", "abc", "1e9"):
            r = await client.post(f"/services/dyn?ttl={bad}", headers=ADMIN, json=body(up))
            assert r.status_code == 422, r.text
            assert "ttl" in r.text
        assert (await client.get("/dyn/x")).status_code == 404
        for in_body in (0, -1, "30", True, 1e9, 30):  # the TTL is a query parameter; in the body it is refused
            r = await client.post("/services/dyn", headers=ADMIN, json={**body(up), "ttl": in_body})
            assert r.status_code == 422 and "ttl" in r.text, r.text
        assert (await client.get("/dyn/x")).status_code == 404
        r = await client.post("/services/dyn?ttl=30", headers=ADMIN, json=body(up))
        assert r.status_code == 201 and r.json()["ttl"] == 30
        assert (await client.get("/services")).json()["services"]["dyn"]["instances"][0]["ttl"] == 30


async def test_delete_deregisters_admin_only(upstreams) -> None:  # type: ignore[no-untyped-def]
    a, b = await upstreams("inv-1"), await upstreams("inv-2")
    gateway = APIGateway(settings=make_settings())
    gateway.add_service("inventory", endpoint(a))
    gateway.add_service("inventory", endpoint(b))
    transport = httpx.ASGITransport(app=gateway.app, client=("203.0.113.9", 40000))
    async with direct(gateway) as client, httpx.AsyncClient(transport=transport, base_url="http://gw") as remote:
        refused = await remote.delete("/services/inventory/inv-1")  # no admin token
        assert refused.status_code == 401
        assert {(await client.get("/inventory/x")).json()["instance"] for _ in range(4)} == {"inv-1", "inv-2"}
        r = await client.delete("/services/inventory/inv-1", headers=ADMIN)
        assert r.status_code == 200 and r.json()["deregistered"] is True
        assert {(await client.get("/inventory/x")).json()["instance"] for _ in range(4)} == {"inv-2"}
        missing = await client.delete("/services/inventory/inv-1", headers=ADMIN)
        assert missing.status_code == 404 and set(missing.json()["error"]) == {"code", "message", "details"}
        assert (await client.delete("/services/nothing/inv-2", headers=ADMIN)).status_code == 404
        assert (await client.delete("/services/inventory/inv-2", headers=ADMIN)).status_code == 200
        assert (await client.get("/inventory/x")).status_code == 404


async def _instances(client: httpx.AsyncClient, url: str, service: str) -> set[str]:
    services = (await client.get(f"{url}/services")).json()["services"]
    return {i["name"] for i in services.get(service, {}).get("instances", [])}


@pytest.mark.redis
@pytest.mark.slow
async def test_heartbeat_keeps_it_silence_drops_it_on_both_replicas(upstreams, redis_url) -> None:  # type: ignore[no-untyped-def]
    """Two real gateway processes share Redis; a heartbeat (what ``inventory-system up`` runs) keeps an
    instance registered through one of them for several TTLs; when it stops, both drop it within the TTL."""
    static, inv = await upstreams("static-1"), await upstreams("inv")
    ttl = 1.0
    async with gateway_process(redis_url, f"static={static.url}") as a, \
            gateway_process(redis_url, f"static={static.url}") as b, httpx.AsyncClient() as client:
        service = ServiceProcess("inv", "127.0.0.1", inv.port)
        heartbeat = Heartbeat(a, [service], ttl, token=lambda: ADMIN_TOKEN)
        await asyncio.to_thread(heartbeat.start)
        try:
            started = time.monotonic()
            name = f"inv-{inv.port}"
            while time.monotonic() - started < 3 * ttl:  # three TTLs: still there on both, through renewals
                for url in (a, b):
                    r = await client.get(f"{url}/inv/x")
                    assert r.status_code == 200 and r.json()["instance"] == "inv", (url, r.text)
                await asyncio.sleep(0.1)
            assert heartbeat.renewals >= 6
        finally:
            await asyncio.to_thread(heartbeat.stop, deregister=False)  # as if `up` were killed
        stopped = time.monotonic()
        gone_after: dict[str, float] = {}
        while len(gone_after) < 2 and time.monotonic() - stopped < 5 * ttl:
            for url in (a, b):
                if url not in gone_after and (await client.get(f"{url}/inv/x")).status_code == 404:
                    gone_after[url] = time.monotonic() - stopped
            await asyncio.sleep(0.05)
        assert set(gone_after) == {a, b}, gone_after
        print("heartbeat stopped; instance gone after (s):", {u: round(t, 2) for u, t in gone_after.items()},
              "renewals:", heartbeat.renewals)
        # the last renewal came at most ttl/3 before the stop; a sweep runs every 0.25 s
        assert max(gone_after.values()) <= ttl + 0.5, gone_after
        for url in (a, b):
            assert name not in await _instances(client, url, "inv")
            assert (await client.get(f"{url}/static/x")).json()["instance"] == "static-1"
    # a gateway started afterwards never learns the expired registration, and Redis no longer holds it
    late = APIGateway(redis_url=redis_url, settings=make_settings())
    async with late:
        assert late.registry.find_instance(name) is None
        assert late.registry.find_instance("static-1") is not None
        assert late._redis is not None
        assert await late._redis.hget("gw:services", f"inv/{name}") is None
        assert await late._redis.hget("gw:leases", f"inv/{name}") is None


@pytest.mark.redis
@pytest.mark.slow
async def test_delete_and_debug_switch_reach_the_other_replica(upstreams, redis_url) -> None:  # type: ignore[no-untyped-def]
    inv1, inv2 = await upstreams("inv-1"), await upstreams("inv-2")
    async with gateway_process(redis_url, f"inventory={inv1.url},inventory={inv2.url}") as a, \
            gateway_process(redis_url, f"inventory={inv1.url},inventory={inv2.url}") as b, \
            httpx.AsyncClient() as client:
        assert await _instances(client, b, "inventory") == {"inventory-1", "inventory-2"}
        assert (await client.delete(f"{a}/services/inventory/inventory-1", headers=ADMIN)).status_code == 200
        for _ in range(100):
            if await _instances(client, b, "inventory") == {"inventory-2"}:
                break
            await asyncio.sleep(0.02)
        assert await _instances(client, b, "inventory") == {"inventory-2"}
        assert {(await client.get(f"{b}/inventory/x")).json()["instance"] for _ in range(4)} == {"inv-2"}
        assert (await client.get(f"{b}/debug")).json() == {"enabled": False}
        assert (await client.put(f"{a}/debug", headers=ADMIN, json={"enabled": True})).json() == {"enabled": True}
        for _ in range(100):
            if (await client.get(f"{b}/debug")).json()["enabled"]:
                break
            await asyncio.sleep(0.02)
        assert (await client.get(f"{b}/debug")).json() == {"enabled": True}


@pytest.mark.slow
async def test_up_registers_with_ttl_renews_and_deregisters_on_stop() -> None:
    """What `inventory-system up` does with SERVICE_REGISTRY_URL: register with a TTL, renew, DELETE on stop."""
    from sync.supervisor import Supervisor
    from tests.gateway.conftest import serve_with_granian

    gateway = APIGateway(settings=make_settings())
    async with serve_with_granian(gateway) as url, httpx.AsyncClient(base_url=url) as client:
        sup = Supervisor(make_settings(SERVICE_REGISTRY_URL=url, SERVICE_REGISTRY_TTL=1))
        await asyncio.to_thread(sup._register, url)
        try:
            names = {f"{s.name}-{s.port}" for s in sup.services[:-1]}
            await asyncio.sleep(2.0)  # two TTLs: still registered through the renewals
            services = (await client.get("/services")).json()["services"]
            seen = {i["name"]: i["ttl"] for svc in services.values() for i in svc["instances"]}
            assert seen == dict.fromkeys(names, 1.0)
            assert sup.heartbeat is not None and sup.heartbeat.renewals >= 5
        finally:
            await asyncio.to_thread(sup.stop)
        services = (await client.get("/services")).json()["services"]  # at once, not after the TTL
        assert [i for svc in services.values() for i in svc["instances"]] == []
