"""Hostile input to the inventory service (issue 14): every bad value is a clear 4xx naming the field,
and nothing is half-written. Imports follow the same rules as ``POST /movements`` and ``POST /skus``."""

from __future__ import annotations

import gzip
import lzma
import os
import threading
import tracemalloc
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from sync.errors import ValidationFailed
from sync.inventory import importer
from sync.inventory.app import create_app
from sync.inventory.schemas import MAX_MONEY, MAX_QUANTITY
from tests.inventory.conftest import LiveServer, seed, settings_for

ADMIN = {"Authorization": "Bearer s3cret"}
CSV = ADMIN | {"Content-Type": "text/csv"}


@pytest.fixture
def admin_client(db_url: str) -> Iterator[TestClient]:
    with TestClient(create_app(settings_for(db_url, ADMIN_TOKEN="s3cret")), raise_server_exceptions=False) as c:
        yield c


def _nothing_written(client: TestClient) -> None:
    assert client.get("/movements").json()["items"] == []
    assert client.get("/skus").json()["items"] == []
    assert client.get("/reconciliation").json()["ok"] is True


# --- item 1: quantities the API refuses are refused by the import, line by line ----------------------------------

@pytest.mark.parametrize("quantity", ["9223372036854775807", "1e20", str(2**70), "inf", "-inf", "1000000001",
                                      "nan", "1e3"])
@pytest.mark.slow
def test_import_refuses_quantities_the_api_refuses(admin_client: TestClient, quantity: str) -> None:
    body = f"sku,date,quantity,type\nOVF-1,2024-01-02,{quantity},receipt\nOK-1,2024-01-02,5,receipt\n"
    resp = admin_client.post("/imports", content=body, headers=CSV)
    assert resp.status_code == 201, resp.text
    report = resp.json()
    assert report["rejected"] == 1 and report["receipts"] == 1
    assert report["reject_examples"][0]["line"] == 2
    assert "quantity" in report["reject_examples"][0]["reason"]
    movements = admin_client.get("/movements").json()["items"]
    assert [(m["sku"], m["quantity"]) for m in movements] == [("OK-1", 5)]
    assert admin_client.get("/reconciliation").json()["ok"] is True


def test_the_overflow_reproducer_leaves_a_working_ledger(admin_client: TestClient) -> None:
    body = "sku,date,quantity,type\nOVF-1,2024-01-02,9223372036854775807,receipt\n"
    resp = admin_client.post("/imports", content=body, headers=CSV)
    assert resp.status_code == 422  # its only line is refused: nothing to import
    assert admin_client.get("/reconciliation").status_code == 200
    seed(admin_client, sku="OVF-1", location="MAIN")
    assert admin_client.post("/movements", json={"type": "receipt", "sku": "OVF-1", "location": "MAIN",
                                                 "quantity": MAX_QUANTITY}).status_code == 201
    level = admin_client.get("/levels", params={"sku": "OVF-1"}).json()["items"][0]
    assert level["on_hand"] == MAX_QUANTITY and isinstance(level["on_hand"], int)
    assert admin_client.get("/reconciliation").json()["ok"] is True


def test_import_at_the_cap_is_accepted(admin_client: TestClient) -> None:
    body = f"sku,date,quantity,type\nCAP-1,2024-01-02,{MAX_QUANTITY},receipt\n"
    resp = admin_client.post("/imports", content=body, headers=CSV)
    assert resp.status_code == 201 and resp.json()["receipts"] == 1


# --- item 2: an import with no valid line is a 422, not a 500 ------------------------------------------------------

@pytest.mark.parametrize("body", ["sku,date,quantity,type\n", "sku,date,quantity,type\nR1,not-a-date,5,receipt\n"])
def test_import_without_a_valid_line_is_422(admin_client: TestClient, body: str) -> None:
    resp = admin_client.post("/imports", content=body, headers=CSV)
    assert resp.status_code == 422, resp.text
    error = resp.json()["error"]
    assert error["code"] == "validation_error" and "no line" in error["message"]
    _nothing_written(admin_client)


# --- item 4: prices are finite, >= 0 and under the API's cap ------------------------------------------------------

def test_import_refuses_prices_the_api_refuses(admin_client: TestClient) -> None:
    body = ("sku,date,quantity,price\nP1,2024-01-02,1,NaN\nP1,2024-01-03,1,1e308\nP1,2024-01-04,1,-5\n"
            "P1,2024-01-05,1,inf\nP1,2024-01-06,1,2.50\n")
    resp = admin_client.post("/imports", content=body, headers=CSV)
    assert resp.status_code == 201, resp.text
    report = resp.json()
    assert report["rejected"] == 4 and report["shipments"] == 1
    assert {e["line"] for e in report["reject_examples"]} == {2, 3, 4, 5}
    assert all("price" in e["reason"] for e in report["reject_examples"])
    sku = admin_client.get("/skus/P1").json()
    assert Decimal(sku["price"]) == Decimal("2.50") and Decimal(sku["unit_cost"]) <= MAX_MONEY


def test_online_retail_import_refuses_bad_quantities_and_prices(admin_client: TestClient) -> None:
    header = "Invoice,StockCode,Description,Quantity,InvoiceDate,Price,Customer ID,Country\n"
    lines = ["1,10001,A,1e20,12/01/2009 07:45,1.0,13085,UK", "2,10001,A,5,12/01/2009 07:45,1e308,13085,UK",
             "3,10001,A,5,12/01/2009 07:45,-1,13085,UK", "4,10001,A,5,12/01/2009 07:45,nan,13085,UK",
             "5,10001,A,5,12/01/2009 07:46,2.5,13085,UK"]
    resp = admin_client.post("/imports", content=header + "\n".join(lines) + "\n", headers=CSV)
    assert resp.status_code == 201, resp.text
    assert resp.json()["rejected"] == 4 and resp.json()["shipments"] == 1
    assert Decimal(admin_client.get("/skus/10001").json()["price"]) == Decimal("2.5")


def test_import_refuses_overlong_text(admin_client: TestClient) -> None:
    body = (f"sku,date,quantity,reference,name\nN1,2024-01-02,1,{'r' * 201},ok\nN1,2024-01-02,1,ok,{'n' * 201}\n"
            "N1,2024-01-03,1,ok,fine\n")
    resp = admin_client.post("/imports", content=body.encode(), headers=CSV)
    assert resp.status_code == 201, resp.text
    assert resp.json()["rejected"] == 2 and resp.json()["shipments"] == 1
    assert [e["reason"] for e in resp.json()["reject_examples"]] == [
        "reference is longer than 200 characters", "name is longer than 200 characters"]


@pytest.mark.parametrize("body", [b"sku,date,quantity,reference\nN1,2024-01-02,1,ref\x00x\nN1,2024-01-03,1,ok\n",
                                  b"sku,date,quantity,name\nN1,2024-01-02,1,ok\nN1,2024-01-03,1,bad\x00\n"])
@pytest.mark.slow
def test_import_refuses_a_file_with_nul_bytes_whole(admin_client: TestClient, body: bytes) -> None:
    """pandas would silently cut a field at a NUL byte; a CSV with one is not text, so it is refused whole."""
    resp = admin_client.post("/imports", content=body, headers=CSV)
    assert resp.status_code == 422, resp.text
    assert "NUL" in resp.json()["error"]["message"]
    _nothing_written(admin_client)


# --- items 6 and 7: query parameters out of range are 422 naming the parameter -------------------------------------

@pytest.mark.parametrize(("params", "field"), [({"start": "0001-01-01"}, "start"), ({"end": "2300-01-01"}, "end"),
                                               ({"start": "0"}, "start"), ({"end": "1700000000"}, "end")])
@pytest.mark.slow
def test_demand_history_refuses_dates_out_of_range(client: TestClient, params: dict[str, str], field: str) -> None:
    seed(client, on_hand=5)
    assert client.post("/movements", json={"type": "shipment", "sku": "SKU-1", "location": "WH",
                                           "quantity": 2}).status_code == 201
    resp = client.get("/demand-history", params=params)
    assert resp.status_code == 422, resp.text
    assert resp.json()["error"]["details"][0]["field"] in (field, f"query.{field}")


def test_events_after_beyond_int64_is_422(client: TestClient) -> None:
    for value in (str(2**63), str(2**64 + 5)):
        resp = client.get("/events", params={"after": value})
        assert resp.status_code == 422, resp.text
        assert resp.json()["error"]["details"][0]["field"] in ("after", "query.after")
    assert client.get("/events", params={"after": str(2**63 - 1)}).status_code == 200


# --- items 11 and 12: compressed uploads are bounded while they expand, and refused whole when damaged ------------

def _lines(n: int, sku: str = "Z-1") -> bytes:
    return b"sku,date,quantity,type\n" + f"{sku},2024-01-02,1,receipt\n".encode() * n


@pytest.mark.parametrize(("kind", "compress"), [("application/x-xz", lzma.compress),
                                                ("application/gzip", gzip.compress)])
@pytest.mark.slow
def test_damaged_compressed_upload_is_refused_whole(admin_client: TestClient, kind: str, compress: Any) -> None:
    whole = compress(_lines(1000))
    headers = ADMIN | {"Content-Type": kind}
    for damaged, problem in ((whole[:-40], "truncated"), (whole[:len(whole) // 2], "truncated"),
                             (whole + os.urandom(800), "trailing data"), (whole + b"\x00" * 3, "trailing data")):
        resp = admin_client.post("/imports", content=damaged, headers=headers)
        assert resp.status_code == 422, resp.text
        assert resp.json()["error"]["details"][0]["problem"] == problem, resp.text
    corrupt = bytearray(whole)
    corrupt[len(corrupt) // 2] ^= 0xFF
    resp = admin_client.post("/imports", content=bytes(corrupt), headers=headers)
    assert resp.status_code == 422 and resp.json()["error"]["details"][0]["problem"] in ("corrupt", "truncated")
    _nothing_written(admin_client)
    # two complete streams one after the other are one valid file (``cat a.gz b.gz``)
    two = compress(_lines(3)) + compress(b"Z-1,2024-01-03,2,receipt\n")
    resp = admin_client.post("/imports", content=two, headers=headers)
    assert resp.status_code == 201, resp.text
    assert resp.json()["receipts"] == 4


def _xz_bomb(expanded: int) -> bytes:
    """A small .xz that expands to ``expanded`` bytes of valid CSV lines."""
    compressor = lzma.LZMACompressor(preset=6)
    block = b"B-1,2024-01-02,1,receipt\n" * 40_000  # 1 MB
    parts = [compressor.compress(b"sku,date,quantity,type\n")]
    parts += [compressor.compress(block) for _ in range(expanded // len(block))]
    return b"".join(parts) + compressor.flush()


@pytest.mark.slow
def test_compressed_upload_never_expands_in_memory(tmp_path: Path) -> None:
    """A 64 MB expansion against a 4 MB limit: 413, and the process never held more than a few MB of it."""
    bomb = _xz_bomb(64 << 20)
    assert len(bomb) < 100_000
    settings = settings_for(f"sqlite:///{tmp_path / 'b.db'}", ADMIN_TOKEN="s3cret", INVENTORY_IMPORT_MAX_BYTES=4 << 20)
    with TestClient(create_app(settings)) as client:
        tracemalloc.start()
        try:
            before, _ = tracemalloc.get_traced_memory()
            tracemalloc.reset_peak()
            resp = client.post("/imports", content=bomb, headers=ADMIN | {"Content-Type": "application/x-xz"})
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert resp.status_code == 413, resp.text
        assert peak - before < 16 << 20, f"grew by {(peak - before) / 2**20:.1f} MiB"  # was 150 MiB
        assert client.get("/movements").json()["items"] == []


@pytest.mark.postgres
@pytest.mark.slow
def test_a_movement_during_an_import_is_answered_before_the_import_commits(
        postgres_url: str, port: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """The import holds its own level rows only: a movement on another SKU, sent while the import is
    inside its write transaction, is answered while that transaction is still open."""
    in_write, movement_done = threading.Event(), threading.Event()
    order: list[str] = []
    original = importer._update_levels

    def paused(*args: Any, **kwargs: Any) -> None:
        in_write.set()
        order.append("import waited" if movement_done.wait(20) else "import gave up waiting")
        original(*args, **kwargs)

    monkeypatch.setattr(importer, "_update_levels", paused)
    with LiveServer(settings_for(postgres_url, ADMIN_TOKEN="s3cret"), port) as server, \
            httpx.Client(base_url=server.url, timeout=60) as http:
        seed(http, sku="OTHER", location="MAIN", on_hand=10)
        body = lzma.compress(_lines(20_000, sku="IMP-1"))

        def upload() -> None:
            resp = http.post("/imports", content=body, headers=ADMIN | {"Content-Type": "application/x-xz"})
            order.append(f"import {resp.status_code}")

        worker = threading.Thread(target=upload)
        worker.start()
        try:
            assert in_write.wait(60), "the import never reached its write phase"
            moved = http.post("/movements", json={"type": "shipment", "sku": "OTHER", "location": "MAIN",
                                                  "quantity": 1}, timeout=30)
            order.append(f"movement {moved.status_code}")
        finally:
            movement_done.set()
            worker.join(60)
        assert order == ["movement 201", "import waited", "import 201"]
        assert http.get("/reconciliation").json()["ok"] is True


# --- smaller items: strict integers, NUL characters, duplicate keys, UTF-8 actor, OPTIONS, documented errors -----

GOOD = {"type": "receipt", "sku": "SKU-1", "location": "WH", "quantity": 1}


@pytest.mark.slow
def test_json_bodies_are_strict(client: TestClient) -> None:
    seed(client)
    before = client.get("/movements").json()
    cases = [(GOOD | {"quantity": "5"}, "quantity"), (GOOD | {"quantity": 1.0}, "quantity"),
             (GOOD | {"reference": "a\x00b"}, "reference"), (GOOD | {"sku": "SKU-1\x00"}, "sku")]
    for body, field in cases:
        resp = client.post("/movements", json=body)
        assert resp.status_code == 422, (body, resp.text)
        assert resp.json()["error"]["details"][0]["field"] == field, resp.text
    dup = client.post("/movements", content=b'{"type": "receipt", "sku": "SKU-1", "location": "WH", '
                                            b'"quantity": -5, "quantity": 1}',
                      headers={"Content-Type": "application/json"})
    assert dup.status_code == 422 and dup.json()["error"]["details"][0]["field"] == "quantity"
    for body in ({"code": "N-1", "name": "bad\x00name"}, {"code": "N-1", "name": "ok", "reorder_point": "3"},
                 {"code": "N-1", "name": "ok", "lead_time_days": 7.0}, {"code": "N-1", "name": "ok", "price": "NaN"},
                 {"code": "N-1", "name": "ok", "reorder_point": 10**12}):
        resp = client.post("/skus", json=body)
        assert resp.status_code == 422, (body, resp.text)
    assert client.post("/locations", json={"code": "L-1", "name": "x\x00"}).status_code == 422
    assert client.get("/movements").json() == before
    assert client.get("/skus/N-1").status_code == 404


def test_actor_header_is_stored_as_utf8(client: TestClient) -> None:
    seed(client)
    resp = client.post("/movements", json=GOOD, headers=[(b"X-Actor", "Zoë Ångström".encode())])
    assert resp.status_code == 201, resp.text
    assert client.get("/movements").json()["items"][-1]["actor"] == "Zoë Ångström"
    bad = client.post("/movements", json=GOOD, headers=[(b"X-Actor", b"a\x07b")])
    assert bad.status_code == 422 and "X-Actor" in bad.json()["error"]["details"][0]["field"]


def test_options_lists_every_method_of_the_path(client: TestClient) -> None:
    resp = client.options("/skus")
    assert resp.status_code == 204 and resp.headers["allow"] == "GET, HEAD, OPTIONS, POST"
    wrong = client.delete("/skus")
    assert wrong.status_code == 405 and wrong.headers["allow"] == "GET, HEAD, OPTIONS, POST"


def test_openapi_documents_the_error_responses_of_every_route(tmp_path: Path) -> None:
    with TestClient(create_app(settings_for(f"sqlite:///{tmp_path / 'o.db'}"))) as client:
        spec = client.get("/openapi.json").json()
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            expected = {"422", "500"} if method == "get" else {"400", "409", "413", "422", "500"}
            if path == "/imports":
                expected |= {"401", "403"}
            assert expected <= set(operation["responses"]), (method, path, sorted(operation["responses"]))
            error = operation["responses"]["422"]["content"]["application/json"]["schema"]
            assert error["$ref"] == "#/components/schemas/ErrorResponse", (method, path)


@pytest.mark.parametrize(("suffix", "compress"), [(".xz", lzma.compress), (".gz", gzip.compress)])
def test_cli_import_refuses_a_damaged_file_whole(tmp_path: Path, suffix: str, compress: Any) -> None:
    whole = compress(_lines(1000))
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    for name, damaged in (("cut", whole[:-40]), ("junk", whole + os.urandom(800))):
        path = tmp_path / f"{name}.csv{suffix}"
        path.write_bytes(damaged)
        with pytest.raises(ValidationFailed, match=r"cut short|after the end|corrupt"):
            importer.import_transactions(path, database_url=url)
    nul = tmp_path / "nul.csv"
    nul.write_bytes(b"sku,date,quantity\nA-1,2024-01-02,1\nA-2\x00,2024-01-02,1\n")
    with pytest.raises(ValidationFailed, match="NUL"):
        importer.import_transactions(nul, database_url=url)
    assert not (tmp_path / "cli.db").exists()  # refused before the database was even opened


def test_nul_in_a_path_or_query_parameter_is_422_not_500(client: TestClient) -> None:
    """PostgreSQL refuses NUL in text: these were 500s there."""
    seed(client)
    for url in ("/skus/A%00B", "/levels?sku=A%00B", "/movements?sku=A%00B", "/demand-history?sku=A%00B",
                "/skus?cursor=%00", "/levels?location=%00", "/reservations/%00"):
        resp = client.get(url)
        assert resp.status_code == 422, (url, resp.text)
        assert resp.json()["error"]["code"] == "validation_error"


def test_demand_history_refuses_a_range_too_long_to_build(client: TestClient) -> None:
    """1900..2199 weekly is 15,650 periods per SKU: refused, not built in memory."""
    seed(client, on_hand=5)
    resp = client.get("/demand-history", params={"start": "1900-01-01", "end": "2199-12-31"})
    assert resp.status_code == 422, resp.text[:300]
    assert "periods" in resp.json()["error"]["message"]
    daily = client.get("/demand-history", params={"start": "2020-01-01", "end": "2029-12-31", "freq": "D"})
    assert daily.status_code == 200 and len(daily.json()["items"]) == 3653


def test_movements_since_out_of_range_in_utc_is_422(client: TestClient) -> None:
    for params, field in (({"since": "0001-01-01T00:00:00+23:59"}, "since"),
                          ({"until": "9999-12-31T23:59:59-23:59"}, "until")):
        resp = client.get("/movements", params=params)
        assert resp.status_code == 422, resp.text
        assert resp.json()["error"]["details"][0]["field"] == field
