"""``POST /rate-limits/{endpoint}`` adds only sane rules (issue 14): the pattern must start with a
registered service (or ``*``) and have a bounded form, unknown body properties are refused with a 422
naming them, and the number of rules is capped. A fuzz run used to leave 55 junk rules behind."""

from __future__ import annotations

import random

import pytest

from sync.gateway.admin import MAX_RULES
from sync.gateway.gateway import APIGateway
from tests.gateway.conftest import ADMIN, direct, endpoint, make_settings

pytestmark = pytest.mark.anyio
LIMIT = {"requests_per_minute": 10, "requests_per_hour": 100, "burst_limit": 5}


async def _gateway(upstreams):  # type: ignore[no-untyped-def]
    gateway = APIGateway(settings=make_settings())
    gateway.add_service("inventory", endpoint(await upstreams("inventory-1")))
    gateway.add_service("ml", endpoint(await upstreams("ml-1")))
    return gateway


@pytest.mark.slow
async def test_unknown_properties_are_refused_and_named(upstreams) -> None:  # type: ignore[no-untyped-def]
    gateway = await _gateway(upstreams)
    async with direct(gateway) as client:
        r = await client.post("/rate-limits/inventory/*", headers=ADMIN, json={**LIMIT, "colour": "red", "burst": 3})
        assert r.status_code == 422
        fields = {d["field"] for d in r.json()["error"]["details"]}
        assert fields == {"colour", "burst"}
        up = gateway.registry.find_instance("ml-1")
        assert up is not None
        body = {**up.endpoint.to_dict(), "wieght": 3}
        r = await client.post("/services/ml", headers=ADMIN, json=body)
        assert r.status_code == 422 and {d["field"] for d in r.json()["error"]["details"]} == {"wieght"}
        assert (await client.get("/rate-limits")).json()["rules"] == {}


@pytest.mark.parametrize("pattern", [
    "nosuchservice/*", "nosuch*", "inventory//x", "inventory/../admin", "inventory/" + "a" * 300,
    "inventory/a%20b", "inventory/{a,b}", "m*/x", "*y", "*/*/**/" + "*" * 40, "~", "inventory/x\\y",
])
async def test_patterns_that_name_no_service_or_are_malformed_are_refused(upstreams, pattern: str) -> None:  # type: ignore[no-untyped-def]
    gateway = await _gateway(upstreams)
    async with direct(gateway) as client:
        r = await client.post(f"/rate-limits/{pattern}", headers=ADMIN, json=LIMIT)
        assert r.status_code in (404, 422), (pattern, r.text)
        if r.status_code == 422:
            assert r.json()["error"]["details"]["field"] == "endpoint"
        assert (await client.get("/rate-limits")).json()["rules"] == {}


async def test_good_patterns_are_kept(upstreams) -> None:  # type: ignore[no-untyped-def]
    gateway = await _gateway(upstreams)
    good = ["inventory/*", "/ml/predict", "inventory/skus/*", "*/health", "ml", "inventory/skus/*/levels",
            "inventory/sku-[0-9]"]
    async with direct(gateway) as client:
        for pattern in good:
            r = await client.post(f"/rate-limits/{pattern}", headers=ADMIN, json=LIMIT)
            assert r.status_code == 200, (pattern, r.text)
        rules = (await client.get("/rate-limits")).json()["rules"]
    assert set(rules) == {p.lstrip("/") for p in good}


async def test_a_fuzz_run_adds_no_rules(upstreams) -> None:  # type: ignore[no-untyped-def]
    gateway = await _gateway(upstreams)
    rng = random.Random(14)
    alphabet = "abcxyz/*?[]!{}:@~.-_%"
    async with direct(gateway) as client:
        for _ in range(80):
            junk = rng.choice("abcxyz:@~.-_") + "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 40)))
            r = await client.post(f"/rate-limits/{junk}", headers=ADMIN, json=LIMIT)
            assert r.status_code in (404, 405, 422), (junk, r.status_code, r.text)
        assert (await client.get("/rate-limits")).json()["rules"] == {}


@pytest.mark.slow
async def test_the_number_of_rules_is_capped(upstreams) -> None:  # type: ignore[no-untyped-def]
    gateway = await _gateway(upstreams)
    async with direct(gateway) as client:
        for i in range(MAX_RULES):
            assert (await client.post(f"/rate-limits/inventory/p{i}", headers=ADMIN, json=LIMIT)).status_code == 200
        r = await client.post("/rate-limits/inventory/one-more", headers=ADMIN, json=LIMIT)
        assert r.status_code == 409 and r.json()["error"]["details"]["max_rules"] == MAX_RULES
        r = await client.post("/rate-limits/inventory/p0", headers=ADMIN, json={**LIMIT, "burst_limit": 1})
        assert r.status_code == 200
        rules = (await client.get("/rate-limits")).json()["rules"]
    assert len(rules) == MAX_RULES and rules["inventory/p0"]["burst_limit"] == 1
