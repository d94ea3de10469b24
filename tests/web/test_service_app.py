"""The shared service base: JSON error shape, no stack traces, body limit, admin check."""

from __future__ import annotations

from typing import Annotated

import pytest
from fastapi import Depends, Request
from fastapi.testclient import TestClient
from pydantic import BaseModel, Field

from sync.errors import Conflict, RateLimited
from sync.settings import Settings
from sync.web import create_service_app, require_admin


class Item(BaseModel):
    sku: str = Field(min_length=1)
    quantity: int = Field(gt=0)


def make_client(**overrides: object) -> TestClient:
    settings = Settings(MAX_REQUEST_BYTES=1024, **overrides)  # type: ignore[arg-type]
    app = create_service_app(title="probe", settings=settings)

    @app.post("/items")
    def create(item: Item) -> Item:
        return item

    @app.get("/conflict")
    def conflict() -> None:
        raise Conflict("only 3 units available", details={"available": 3})

    @app.get("/busy")
    def busy() -> None:
        raise RateLimited("slow down", headers={"Retry-After": "7"})

    @app.get("/boom")
    def boom() -> None:
        raise RuntimeError("secret internals /etc/passwd")

    @app.post("/admin", dependencies=[Depends(require_admin)])
    def admin() -> dict[str, bool]:
        return {"ok": True}

    @app.get("/admin-probe")
    def admin_probe(_: Annotated[None, Depends(require_admin)]) -> dict[str, bool]:
        return {"ok": True}

    return TestClient(app, raise_server_exceptions=False)


def test_validation_error_names_the_field_and_problem() -> None:
    resp = make_client().post("/items", json={"sku": "A1", "quantity": 0})
    assert resp.status_code == 422
    error = resp.json()["error"]
    assert error["code"] == "validation_error"
    assert error["details"][0]["field"] == "quantity"
    assert "greater than 0" in error["details"][0]["problem"]
    assert "quantity" in error["message"]


def test_domain_error_keeps_its_status_and_details() -> None:
    resp = make_client().get("/conflict")
    assert resp.status_code == 409
    assert resp.json() == {
        "error": {"code": "conflict", "message": "only 3 units available", "details": {"available": 3}}
    }


def test_an_error_carries_its_headers_to_the_client() -> None:
    resp = make_client().get("/busy")
    assert resp.status_code == 429 and resp.headers["retry-after"] == "7"
    assert resp.json() == {"error": {"code": "rate_limited", "message": "slow down", "details": None}}


def test_unexpected_error_is_a_500_without_internals() -> None:
    resp = make_client().get("/boom")
    assert resp.status_code == 500
    assert resp.json()["error"] == {"code": "internal_error", "message": "internal server error", "details": None}
    assert "passwd" not in resp.text and "Traceback" not in resp.text


def test_unknown_route_is_json_404() -> None:
    resp = make_client().get("/nope")
    assert resp.status_code == 404
    assert resp.json()["error"]["code"] == "not_found"


def test_body_over_limit_is_refused_before_the_handler() -> None:
    resp = make_client().post("/items", content=b'{"sku": "' + b"x" * 2000 + b'", "quantity": 1}',
                              headers={"content-type": "application/json"})
    assert resp.status_code == 413
    assert resp.json() == {"error": {"code": "payload_too_large", "message": "request body over 1024 bytes",
                                     "details": {"max_bytes": 1024}}}


def test_admin_route_refuses_a_remote_caller_without_a_configured_token() -> None:
    # TestClient's peer is "testclient", i.e. not loopback.
    resp = make_client().post("/admin")
    assert resp.status_code == 403
    assert "ADMIN_TOKEN" in resp.json()["error"]["message"]


@pytest.mark.parametrize(
    ("header", "status"),
    [(None, 401), ("Bearer wrong", 403), ("Basic s3cret", 401), ("Bearer s3cret", 200)],
)
def test_admin_route_with_a_token(header: str | None, status: int) -> None:
    client = make_client(ADMIN_TOKEN="s3cret")
    headers = {"authorization": header} if header else {}
    assert client.post("/admin", headers=headers).status_code == status
    assert client.get("/admin-probe", headers=headers).status_code == status


def test_a_path_with_its_own_body_limit_takes_a_larger_body() -> None:
    settings = Settings(MAX_REQUEST_BYTES=1024)
    app = create_service_app(title="probe", settings=settings, body_limit_overrides={"/upload": 4096})

    @app.post("/upload")
    async def upload(request: Request) -> dict[str, int]:
        return {"size": len(await request.body())}

    @app.post("/other")
    async def other(request: Request) -> dict[str, int]:
        return {"size": len(await request.body())}

    client = TestClient(app)
    assert client.post("/upload", content=b"x" * 3000).json() == {"size": 3000}
    assert client.post("/upload", content=b"x" * 5000).status_code == 413
    assert client.post("/other", content=b"x" * 3000).status_code == 413
