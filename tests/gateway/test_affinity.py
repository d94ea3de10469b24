"""Sticky sessions: a header or cookie keeps a client on one instance; consistent (rendezvous) hashing
moves only the keys of an instance that leaves; unhealthy or breaker-open instances are skipped."""

from __future__ import annotations

from collections import Counter

import httpx
import pytest

from sync.gateway.affinity import Affinity
from sync.gateway.gateway import APIGateway
from sync.gateway.service import create_gateway
from tests.gateway.conftest import ADMIN, direct, endpoint, make_settings

pytestmark = pytest.mark.anyio
KEYS = [f"session-{i}" for i in range(200)]


def settings(**kw):  # type: ignore[no-untyped-def]
    return make_settings(RATE_LIMIT_DEFAULT_PER_MINUTE=100_000, RATE_LIMIT_DEFAULT_PER_HOUR=1_000_000, **kw)


async def placement(client: httpx.AsyncClient, keys: list[str]) -> dict[str, str]:
    where = {}
    for key in keys:
        r = await client.get("/inv/item", headers={"X-Session-Id": key})
        assert r.status_code == 200, r.text
        where[key] = r.json()["instance"]
    return where


@pytest.mark.slow
async def test_keys_stay_put_when_an_unrelated_instance_leaves(upstreams) -> None:  # type: ignore[no-untyped-def]
    ups = [await upstreams(f"inv-{i}") for i in range(1, 5)]
    gateway = APIGateway(settings=settings())
    for up in ups:
        gateway.add_service("inv", endpoint(up))
    async with direct(gateway) as client:
        # without affinity a key is balanced round-robin: the same session lands on several instances
        assert len({(await client.get("/inv/x", headers={"X-Session-Id": "s"})).json()["instance"]
                    for _ in range(4)}) == 4
        r = await client.put("/services/inv/policy", headers=ADMIN, json={"affinity": "header:X-Session-Id"})
        assert r.status_code == 200 and r.json()["policy"]["affinity"] == "header:X-Session-Id"
        before = await placement(client, KEYS)
        assert await placement(client, KEYS) == before  # sticky
        counts = Counter(before.values())
        assert set(counts) == {"inv-1", "inv-2", "inv-3", "inv-4"} and min(counts.values()) >= 25, counts
        assert (await client.delete("/services/inv/inv-3", headers=ADMIN)).status_code == 200
        after = await placement(client, KEYS)
        moved = {k for k in KEYS if after[k] != before[k]}
        # of 200 keys only the removed instance's keys moved, and they spread over the others
        assert moved == {k for k in KEYS if before[k] == "inv-3"}
        assert len({after[k] for k in moved}) == 3
        print(f"affinity: {len(moved)} of {len(KEYS)} keys moved after removing 1 of 4 instances "
              f"(exactly the removed instance's {counts['inv-3']})")
        # no key: balanced as before (round-robin over the three left)
        assert {(await client.get("/inv/x")).json()["instance"] for _ in range(3)} == {"inv-1", "inv-2", "inv-4"}


@pytest.mark.slow
async def test_unhealthy_instance_keys_go_to_the_next_and_come_back(upstreams) -> None:  # type: ignore[no-untyped-def]
    ups = [await upstreams(f"inv-{i}") for i in range(1, 4)]
    gateway = APIGateway(settings=settings())
    for up in ups:
        gateway.add_service("inv", endpoint(up, circuit_breaker_threshold=1, retry_count=1))
    async with direct(gateway) as client:
        sticky = {"affinity": "header:X-Session-Id"}
        assert (await client.put("/services/inv/policy", headers=ADMIN, json=sticky)).status_code == 200
        keys = KEYS[:60]
        before = await placement(client, keys)
        inst = gateway.registry.find_instance("inv-2")
        assert inst is not None
        inst.healthy = False  # what a failed active health check does
        during = await placement(client, keys)
        assert "inv-2" not in during.values()
        assert all(during[k] == before[k] for k in keys if before[k] != "inv-2")
        inst.healthy = True
        assert await placement(client, keys) == before
        ups[0].fail_status = 503  # inv-1 fails: its breaker (threshold 1) opens, its keys are retried elsewhere
        during = await placement(client, keys)
        assert "inv-1" not in during.values()
        assert all(during[k] == before[k] for k in keys if before[k] != "inv-1")


async def test_cookie_affinity_from_settings(upstreams) -> None:  # type: ignore[no-untyped-def]
    ups = [await upstreams(f"inv-{i}") for i in range(1, 4)]
    services = ",".join(f"inv={up.url}" for up in ups)
    gateway = create_gateway(settings(GATEWAY_SERVICES=services, GATEWAY_AFFINITY="inv=cookie:sid"))
    async with direct(gateway) as client:
        seen: dict[str, set[str]] = {}
        for i in range(30):
            sid = f"user-{i}"
            for _ in range(3):
                r = await client.get("/inv/x", headers={"Cookie": f"theme=dark; sid={sid}; lang=en"})
                seen.setdefault(sid, set()).add(r.json()["instance"])
        assert all(len(s) == 1 for s in seen.values())
        assert len(set().union(*seen.values())) == 3


async def test_bad_affinity_policy_is_a_422_naming_the_field() -> None:
    async with direct(APIGateway(settings=settings())) as client:
        for bad in ({"affinity": "query:x"}, {"affinity": "header:"}, {"affinity": "header:a b"},
                    {"fallback_max_age": -1}, {"extra": 1}):
            r = await client.put("/services/inv/policy", headers=ADMIN, json=bad)
            assert r.status_code == 422, (bad, r.text)
            assert next(iter(bad)) in r.text
        r = await client.put("/services/health/policy", headers=ADMIN, json={})
        assert r.status_code in (404, 405, 422)
    with pytest.raises(ValueError, match="GATEWAY_AFFINITY"):
        create_gateway(settings(GATEWAY_AFFINITY="inv=cookie"))


@pytest.mark.slow
def test_rendezvous_moves_only_the_removed_instances_keys_at_scale() -> None:
    from sync.gateway.affinity import rendezvous_order
    from sync.gateway.balancer import Instance
    from sync.gateway.models import ServiceEndpoint

    def inst(i: int) -> Instance:
        return Instance("s", ServiceEndpoint(name=f"s-{i}", url=f"http://h{i}", health_check_url=f"http://h{i}/health"),
                        lambda: 0.0)

    pool = [inst(i) for i in range(10)]
    keys = [f"k{i}".encode() for i in range(10_000)]
    before = {k: rendezvous_order(k, pool)[0].name for k in keys}
    rest = [p for p in pool if p.name != "s-7"]
    after = {k: rendezvous_order(k, rest)[0].name for k in keys}
    moved = [k for k in keys if before[k] != after[k]]
    assert set(moved) == {k for k in keys if before[k] == "s-7"}
    assert 800 <= len(moved) <= 1200  # about a tenth
    assert Affinity.parse("Cookie: sid").key([(b"cookie", b"a=1; sid=\"xyz\"")]) == b"xyz"
