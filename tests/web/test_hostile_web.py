"""Hostile input to the shared service base (issue 14): duplicate JSON keys, chunked bodies over the limit,
OPTIONS / 405 listing every method of a path, error responses in the OpenAPI document, UTF-8 headers."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

import pytest
from fastapi import Depends, Header
from fastapi.testclient import TestClient
from pydantic import AfterValidator, BaseModel

from sync.settings import Settings
from sync.web import create_service_app, require_admin
from sync.web.errors import ErrorResponse, error_responses
from sync.web.input_guards import body_problem, utf8_header


class Item(BaseModel):
    sku: str
    quantity: int


def make_client(max_bytes: int = 1024) -> TestClient:
    app = create_service_app(title="probe", settings=Settings(MAX_REQUEST_BYTES=max_bytes, ADMIN_TOKEN="t"))

    @app.post("/items", status_code=201, responses={409: {"description": "Already there"}})
    def create(item: Item) -> Item:
        return item

    @app.get("/items")
    def list_items() -> list[Item]:
        return []

    @app.get("/items/{sku}")
    def one(sku: str) -> Item:
        return Item(sku=sku, quantity=1)

    @app.post("/admin", dependencies=[Depends(require_admin)])
    def admin() -> dict[str, bool]:
        return {"ok": True}

    @app.get("/who")
    def who(actor: Annotated[str | None, Header(alias="X-Actor"), AfterValidator(utf8_header)] = None) -> dict:
        return {"actor": actor}

    return TestClient(app, raise_server_exceptions=False)


@pytest.fixture
def client() -> Iterator[TestClient]:
    with make_client() as test_client:
        yield test_client


def test_duplicate_json_key_is_refused_naming_the_key(client: TestClient) -> None:
    body = b'{"sku": "A1", "quantity": -5, "quantity": 1}'
    resp = client.post("/items", content=body, headers={"Content-Type": "application/json"})
    assert resp.status_code == 422, resp.text
    assert resp.json() == {"error": {
        "code": "validation_error", "message": "invalid request: quantity: the key appears twice in one JSON object",
        "details": [{"field": "quantity", "problem": "duplicate key", "type": "duplicate_key"}]}}
    nested = b'{"sku": "A1", "quantity": 1, "extra": {"a": 1, "a": 2}}'
    assert client.post("/items", content=nested, headers={"Content-Type": "application/json"}).status_code == 422
    ok = client.post("/items", content=b'{"sku": "A1", "quantity": 1}', headers={"Content-Type": "application/json"})
    assert ok.status_code == 201 and ok.json() == {"sku": "A1", "quantity": 1}
    garbage = client.post("/items", content=b"{nope", headers={"Content-Type": "application/json"})
    assert garbage.status_code == 422 and garbage.json()["error"]["code"] == "validation_error"


def test_duplicate_key_finder() -> None:
    problem = body_problem(b'[{"a": 1}, {"b": 1, "b": 2}]')
    assert problem is not None and problem[:2] == ("b", "duplicate key")
    assert body_problem(b'{"a": {"a": 1}}') is None
    assert body_problem(b"not json") is None


def test_chunked_body_over_the_limit_is_413(client: TestClient) -> None:
    def chunks() -> Iterator[bytes]:
        yield b'{"sku": "A1", "quantity": 1, "pad": "'
        for _ in range(10):
            yield b"x" * 200
        yield b'"}'

    for headers in ({"Content-Type": "application/json"}, {"Content-Type": "text/plain"}, {}):
        resp = client.post("/items", content=chunks(), headers=headers)
        assert resp.status_code == 413, (headers, resp.text)
        assert resp.json()["error"]["code"] == "payload_too_large"


def test_options_and_405_list_every_method_of_the_path(client: TestClient) -> None:
    resp = client.options("/items")
    assert resp.status_code == 204
    assert resp.headers["allow"] == "GET, HEAD, OPTIONS, POST"
    wrong = client.delete("/items")
    assert wrong.status_code == 405 and wrong.headers["allow"] == "GET, HEAD, OPTIONS, POST"
    assert wrong.json()["error"]["code"] == "method_not_allowed"
    assert client.options("/items/A1").headers["allow"] == "GET, HEAD, OPTIONS"


def test_every_route_documents_its_error_responses(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    ref = "#/components/schemas/ErrorResponse"
    post = spec["paths"]["/items"]["post"]["responses"]
    for status in ("400", "409", "413", "422", "500"):
        assert post[status]["content"]["application/json"]["schema"]["$ref"] == ref, status
    assert post["409"]["description"] == "Already there"
    get = spec["paths"]["/items/{sku}"]["get"]["responses"]
    assert {"404", "422"} <= set(get) and "409" not in get
    admin = spec["paths"]["/admin"]["post"]["responses"]
    assert {"401", "403"} <= set(admin)
    assert "HTTPValidationError" not in spec["components"]["schemas"]
    assert error_responses(404)[404]["model"] is ErrorResponse


def test_utf8_header_is_read_as_utf8_or_refused(client: TestClient) -> None:
    name = "Zoë Ångström"
    resp = client.get("/who", headers=[(b"X-Actor", name.encode())])
    assert resp.status_code == 200 and resp.json() == {"actor": name}
    bad = client.get("/who", headers=[(b"X-Actor", b"a\x01b")])
    assert bad.status_code == 422
    assert "x-actor" in bad.json()["error"]["details"][0]["field"].lower()
    # the test client re-encodes raw header bytes, so bytes that are not UTF-8 are checked here
    with pytest.raises(ValueError, match="UTF-8"):
        utf8_header(b"\xff\xfeoops".decode("latin-1"))


def test_nul_in_path_or_query_is_422_naming_it(client: TestClient) -> None:
    for url, field in (("/items/A%00B", "path"), ("/items?sku=A%00B", "query.sku"), ("/items?a=1&b=%00", "query.b")):
        resp = client.get(url)
        assert resp.status_code == 422, (url, resp.text)
        assert resp.json()["error"]["details"][0]["field"] == field
    assert client.get("/items?sku=A%2500B").status_code == 200  # an escaped "%00" is just text


@pytest.mark.parametrize(("body", "problem"), [
    (b"[" * 5000 + b"]" * 5000, "nested too deeply"),
    (b'{"sku": "A1", "quantity": 1' + b"0" * 5000 + b"}", "unreadable value"),
    (b'{"sku": "\xff\xfe", "quantity": 1}', "not UTF-8"),
])
def test_json_the_parser_cannot_take_is_422_not_500(body: bytes, problem: str) -> None:
    with make_client(max_bytes=20_000) as client:
        resp = client.post("/items", content=body, headers={"Content-Type": "application/json"})
    assert resp.status_code == 422, resp.text[:300]
    assert resp.json()["error"]["details"][0]["problem"] == problem
