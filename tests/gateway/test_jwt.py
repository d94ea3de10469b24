"""JWT on proxied routes: valid tokens pass, every known attack is refused with 401."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from typing import Any

import jwt
import pytest
from aiohttp import web
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from sync.api_gateway import APIGateway
from sync.gateway.auth import issue_token
from tests.gateway.conftest import SECRET, direct, endpoint, make_settings
from tests.serving import free_port

pytestmark = pytest.mark.anyio


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _claims(**extra: Any) -> dict[str, Any]:
    now = int(time.time())
    return {"sub": "alice", "iat": now, "exp": now + 600, **extra}


def _rsa() -> tuple[Any, str]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public_pem = key.public_key().public_bytes(serialization.Encoding.PEM,
                                               serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    return key, public_pem


async def _status(gateway: APIGateway, token: str | None, path: str = "/inventory/x") -> int:
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    async with direct(gateway) as client:
        return (await client.get(path, headers=headers)).status_code


async def test_hs256_tokens_and_attacks(upstreams) -> None:  # type: ignore[no-untyped-def]
    up = await upstreams("inv-1")
    gateway = APIGateway(settings=make_settings(JWT_SECRET=SECRET, JWT_AUDIENCE="inventory-api",
                                                JWT_ISSUER="inventory-system"))
    gateway.add_service("inventory", endpoint(up))
    good = issue_token(SECRET, "alice", ["read"], audience="inventory-api", issuer="inventory-system")
    now = int(time.time())
    attacks = {
        "no token": None,
        "garbage": "not.a.jwt",
        "alg none": jwt.encode(_claims(aud="inventory-api", iss="inventory-system"), None, algorithm="none"),
        "wrong secret": jwt.encode(_claims(aud="inventory-api", iss="inventory-system"), "x" * 40,
                                   algorithm="HS256"),
        "expired": jwt.encode(_claims(aud="inventory-api", iss="inventory-system", exp=now - 5), SECRET,
                              algorithm="HS256"),
        "not yet valid": jwt.encode(_claims(aud="inventory-api", iss="inventory-system", nbf=now + 300), SECRET,
                                    algorithm="HS256"),
        "wrong audience": jwt.encode(_claims(aud="other-api", iss="inventory-system"), SECRET, algorithm="HS256"),
        "no audience": jwt.encode(_claims(iss="inventory-system"), SECRET, algorithm="HS256"),
        "wrong issuer": jwt.encode(_claims(aud="inventory-api", iss="evil"), SECRET, algorithm="HS256"),
        "no exp": jwt.encode({"sub": "alice", "aud": "inventory-api", "iss": "inventory-system"}, SECRET,
                             algorithm="HS256"),
        "HS512": jwt.encode(_claims(aud="inventory-api", iss="inventory-system"), SECRET * 2, algorithm="HS512"),
    }
    head, payload, sig = good.split(".")
    forged = json.loads(base64.urlsafe_b64decode(payload + "=="))
    forged["sub"] = "admin"
    attacks["tampered payload"] = f"{head}.{_b64(json.dumps(forged).encode())}.{sig}"
    assert await _status(gateway, good) == 200
    for name, token in attacks.items():
        assert await _status(gateway, token) == 401, name
    checks = up.health_hits
    assert await _status(gateway, None, "/inventory/health") == 200  # public path by default
    proxied_health = up.health_hits - checks - 1  # starting the gateway checked the instance once
    async with direct(gateway) as client:
        r = await client.get("/inventory/x", headers={"Authorization": f"Bearer {attacks['expired']}"})
        assert r.json()["error"]["code"] == "token_expired" and "invalid_token" in r.headers["www-authenticate"]
        r = await client.get("/inventory/x")
        assert r.status_code == 401 and r.headers["www-authenticate"] == 'Bearer realm="gateway"'
        assert r.json()["error"]["code"] == "unauthorized"
        metrics = (await client.get("/metrics")).text
    assert 'gateway_auth_failures_total{reason="token_expired"}' in metrics
    assert up.hits == 1 and proxied_health == 1


async def test_rs256_public_key_and_algorithm_confusion(upstreams) -> None:  # type: ignore[no-untyped-def]
    up = await upstreams("inv-1")
    key, public_pem = _rsa()
    gateway = APIGateway(settings=make_settings(JWT_PUBLIC_KEY=public_pem))
    gateway.add_service("inventory", endpoint(up))
    good = jwt.encode(_claims(), key, algorithm="RS256")
    assert await _status(gateway, good) == 200
    # HS256 signed with the public key as the HMAC secret: the classic confusion attack.
    header = _b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    body = _b64(json.dumps(_claims()).encode())
    mac = hmac.new(public_pem.encode(), f"{header}.{body}".encode(), hashlib.sha256).digest()
    assert await _status(gateway, f"{header}.{body}.{_b64(mac)}") == 401
    other, _ = _rsa()
    assert await _status(gateway, jwt.encode(_claims(), other, algorithm="RS256")) == 401
    assert await _status(gateway, jwt.encode(_claims(), None, algorithm="none")) == 401


async def test_rs256_via_jwks_url(upstreams) -> None:  # type: ignore[no-untyped-def]
    up = await upstreams("inv-1")
    key, _ = _rsa()
    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
    jwk.update({"kid": "k1", "use": "sig", "alg": "RS256"})

    fetches = []

    async def jwks(request: web.Request) -> web.Response:
        fetches.append(1)
        return web.json_response({"keys": [jwk]})

    app = web.Application()
    app.router.add_get("/jwks.json", jwks)
    runner = web.AppRunner(app, shutdown_timeout=0.1)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        gateway = APIGateway(settings=make_settings(JWT_JWKS_URL=f"http://127.0.0.1:{port}/jwks.json"))
        gateway.add_service("inventory", endpoint(up))
        good = jwt.encode(_claims(), key, algorithm="RS256", headers={"kid": "k1"})
        assert await _status(gateway, good) == 200
        for i in range(5):  # made-up kids are refused without a JWKS fetch each
            unknown_kid = jwt.encode(_claims(), key, algorithm="RS256", headers={"kid": f"nope-{i}"})
            assert await _status(gateway, unknown_kid) == 401
        assert len(fetches) == 1
    finally:
        await runner.cleanup()


def test_issue_token_round_trip() -> None:
    token = issue_token(SECRET, "ops", ["admin", "read"], ttl_seconds=60, audience="a", issuer="i")
    claims = jwt.decode(token, SECRET, algorithms=["HS256"], audience="a", issuer="i")
    assert claims["sub"] == "ops" and claims["scope"] == "admin read" and claims["exp"] - claims["iat"] == 60
    with pytest.raises(ValueError):
        issue_token("", "ops", [])
