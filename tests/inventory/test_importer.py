"""Bulk import: every line accounted for, ledger sums equal levels, endpoint admin-only and limited."""

from __future__ import annotations

import gzip
import lzma
from pathlib import Path

import pandas as pd
import pytest
from fastapi.testclient import TestClient

from sync.inventory.app import create_app
from sync.inventory.importer import import_transactions
from tests.inventory.conftest import settings_for

SAMPLE = Path(__file__).resolve().parents[2] / "sync" / "data" / "online_retail_sample.csv"


def _expected(sample: pd.DataFrame) -> dict[str, int]:
    """The classification rules of csv_formats, recomputed independently with pandas."""
    product = sample["StockCode"].astype(str).str.match(r"^\d{5}")
    rows = sample[product]
    cancel = rows["Invoice"].astype(str).str.startswith("C")
    sale = (rows["Quantity"] > 0) & ((rows["Price"] > 0) | rows["Customer ID"].notna())
    return {"lines": len(sample), "non_product": int((~product).sum()), "cancellations": int(cancel.sum()),
            "shipments": int(sale.sum()), "adjustments_out": int(((rows["Quantity"] < 0) & ~cancel).sum()),
            "adjustments_in": int(((rows["Quantity"] > 0) & ~sale).sum())}


@pytest.mark.slow
def test_online_retail_sample_import_accounts_for_every_line(db_url: str) -> None:
    sample = pd.read_csv(SAMPLE, dtype={"Invoice": str, "StockCode": str})
    report = import_transactions(SAMPLE, database_url=db_url).to_dict()
    expected = _expected(sample)
    for name, value in expected.items():
        assert report[name] == value, name
    assert report["rejected"] == 0
    accounted = sum(report[k] for k in ("shipments", "returns", "cancellations", "adjustments_out",
                                        "adjustments_in", "receipts", "non_product", "rejected"))
    assert accounted == report["lines"]
    assert report["movements_written"] == report["lines"] - report["non_product"] + report["opening_receipts"]
    assert report["skus_created"] == sample.loc[sample["StockCode"].str.match(r"^\d{5}"), "StockCode"].nunique()
    with TestClient(create_app(settings_for(db_url))) as client:
        assert client.get("/reconciliation").json()["ok"] is True
        levels = client.get("/levels", params={"limit": 1000}).json()["items"]
        assert all(level["on_hand"] >= 0 for level in levels)
        cancels = client.get("/movements", params={"type": "return", "limit": 1000}).json()["items"]
        assert len(cancels) == expected["cancellations"]
        assert all(m["reason"] == "cancellation" and m["quantity"] > 0 for m in cancels)
        sku = levels[0]["sku"]
        weekly = client.get("/demand-history", params={"sku": sku}).json()["items"]
        sales = sample[(sample["StockCode"] == sku)]
        net = -sum(m["quantity"] for m in client.get("/movements", params={"sku": sku, "limit": 1000}).json()["items"]
                   if m["type"] in ("shipment", "return"))
        assert sum(w["quantity"] for w in weekly) == net
        assert net == int(sales.loc[sales["Quantity"] > 0, "Quantity"].sum()) + int(
            sales.loc[sales["Invoice"].str.startswith("C"), "Quantity"].sum()) - int(
            sales.loc[(sales["Quantity"] > 0) & (sales["Price"] == 0) & sales["Customer ID"].isna(), "Quantity"].sum())


def test_generic_format_and_rejects(tmp_path: Path) -> None:
    csv = tmp_path / "generic.csv"
    csv.write_text(
        "sku,date,quantity,type,location,reference\n"
        "A-1,2024-01-02T10:00:00Z,10,receipt,WH,PO-1\n"
        "A-1,2024-01-03,4,,WH,SO-1\n"
        "A-1,2024-01-04,-1,,WH,RMA-1\n"
        "A-1,2024-01-05,-2,adjustment,WH,count\n"
        "A-1,not a date,1,,WH,\n"
        "A-1,2024-01-06,0,,WH,\n"
        "A-1,2024-01-06,abc,,WH,\n"
        "A-1,2024-01-06,2,teleport,WH,\n"
        "A-1,2024-01-06,-2,receipt,WH,\n"
    )
    url = f"sqlite:///{tmp_path / 'g.db'}"
    report = import_transactions(csv, database_url=url)
    assert (report.format, report.lines, report.receipts, report.shipments, report.returns) == (
        "generic", 9, 1, 1, 1)
    assert (report.adjustments_out, report.rejected) == (1, 5)
    assert {e["reason"] for e in report.reject_examples} == {
        "unreadable date", "zero quantity", "quantity is not a number", "unknown type",
        "quantity must be positive for this type"}
    with TestClient(create_app(settings_for(url))) as client:
        level = client.get("/levels", params={"sku": "A-1", "location": "WH"}).json()["items"][0]
        assert level["on_hand"] == 10 - 4 + 1 - 2
        assert client.get("/reconciliation").json()["ok"] is True


def test_unrecognised_file_is_refused(tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("foo,bar\n1,2\n")
    with pytest.raises(ValueError, match="unrecognised CSV header"):
        import_transactions(bad, database_url=f"sqlite:///{tmp_path / 'b.db'}")


@pytest.mark.slow
def test_import_endpoint_streams_compressed_uploads_and_is_idempotent(db_url: str) -> None:
    with TestClient(create_app(settings_for(db_url, ADMIN_TOKEN="s3cret"))) as client:
        _upload_twice(client)


def _upload_twice(client: TestClient) -> None:
    admin = {"Authorization": "Bearer s3cret"}
    body = lzma.compress(SAMPLE.read_bytes())
    headers = admin | {"Content-Type": "application/x-xz", "Idempotency-Key": "upload-1"}
    first = client.post("/imports", content=body, headers=headers)
    assert first.status_code == 201, first.text
    assert first.json()["lines"] == 22663
    again = client.post("/imports", content=body, headers=headers)
    assert again.status_code == 201
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()
    assert client.get("/reconciliation").json()["ok"] is True
    moved = client.get("/movements", params={"limit": 1000}).json()
    gz = client.post("/imports", content=gzip.compress(b"sku,date,quantity\nNEW-1,2024-01-01,1\n"),
                     headers=admin | {"Content-Type": "application/gzip"})
    assert gz.status_code == 201 and gz.json()["shipments"] == 1
    assert client.get("/movements", params={"limit": 1000}).json()["items"][:5] == moved["items"][:5]


def test_import_endpoint_refusals_write_nothing(db_url: str) -> None:
    settings = settings_for(db_url, INVENTORY_IMPORT_MAX_BYTES=1000, ADMIN_TOKEN="s3cret")
    with TestClient(create_app(settings)) as client:
        csv = SAMPLE.read_bytes()[:5000]
        assert client.post("/imports", content=csv).status_code == 401
        wrong = client.post("/imports", content=csv, headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 403
        admin = {"Authorization": "Bearer s3cret", "Content-Type": "text/csv"}
        big = client.post("/imports", content=csv, headers=admin)
        assert big.status_code == 413
        assert "1000 bytes" in big.json()["error"]["message"]
        assert client.post("/imports", content=b"", headers=admin).status_code == 422
        assert client.post("/imports", content=b"a,b\n1,2\n", headers=admin).status_code == 422
        assert client.post("/imports", content=b"x", headers=admin | {"Content-Type": "image/png"}).status_code == 422
        assert client.get("/skus").json()["items"] == []
        assert client.get("/movements").json()["items"] == []
