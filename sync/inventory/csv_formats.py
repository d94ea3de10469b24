"""Reading sales-history CSVs into one frame of stock movements, with every line accounted for.

Two formats, told apart by their header:

* **Online Retail II** (``Invoice,StockCode,Description,Quantity,InvoiceDate,Price,Customer ID,Country``,
  dates ``%m/%d/%Y %H:%M``). Lines map to movements as follows:

  - ``Quantity > 0``, ``Price > 0``: a sale -> ``shipment``.
  - invoice starting with ``C`` (cancellation, ``Quantity < 0``): the goods come back -> ``return``,
    reason ``cancellation``.
  - ``Quantity < 0`` on an ordinary invoice (the data's write-offs: "lost", "damaged", "?"...):
    ``adjustment`` decrease, reason from the description (``lost``/``damaged``/...), else ``write_off``.
  - ``Quantity > 0``, ``Price == 0``: with a customer, a free sale -> ``shipment``; without, stock found
    or booked back in -> ``adjustment`` increase, reason ``found``.
  - a StockCode not starting with five digits (``POST``, ``DOT``, ``M``, ``BANK CHARGES``...) is a fee or
    service line, not stock: counted as ``non_product`` and not imported.
  - an unreadable line (bad date or quantity, zero quantity, positive quantity on a ``C`` invoice):
    counted as ``rejected``, with the first few line numbers and reasons in the report.

* **Generic** (header with at least ``sku,date,quantity``; optional ``type``, ``location``,
  ``reference``, ``price``, ``name``). ``date`` is ISO 8601 (UTC when no offset). Without ``type``, a
  positive quantity is a ``shipment`` and a negative one a ``return`` of that many units. With
  ``type`` (``shipment``, ``receipt``, ``return``, ``adjustment``) the quantity must be positive except
  for ``adjustment``, where its sign is the direction.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from sync.errors import ValidationFailed

ONLINE_RETAIL_COLUMNS = ["Invoice", "StockCode", "Description", "Quantity", "InvoiceDate", "Price", "Customer ID",
                         "Country"]
GENERIC_REQUIRED = {"sku", "date", "quantity"}
GENERIC_OPTIONAL = {"type", "location", "reference", "price", "name"}
CHUNK_ROWS = 100_000
MAX_REJECT_EXAMPLES = 20
_WRITE_OFF_WORDS = {"lost": "lost", "damage": "damaged", "theft": "theft", "stolen": "theft",
                    "expired": "expired", "found": "found"}


@dataclass
class LineCounts:
    """What happened to every line read (each line lands in exactly one bucket)."""

    lines: int = 0
    shipments: int = 0
    returns: int = 0  # return lines of the generic format
    cancellations: int = 0  # Online Retail "C" invoices, imported as return movements
    adjustments_out: int = 0
    adjustments_in: int = 0
    receipts: int = 0
    non_product: int = 0
    rejected: int = 0
    reject_examples: list[dict[str, Any]] = field(default_factory=list)

    def reject(self, mask: pd.Series, frame: pd.DataFrame, reason: str) -> None:
        self.rejected += int(mask.sum())
        room = MAX_REJECT_EXAMPLES - len(self.reject_examples)
        if room > 0:
            for line in frame.loc[mask, "_line"].head(room):
                self.reject_examples.append({"line": int(line), "reason": reason})


def detect_format(header: list[str]) -> str:
    if all(col in header for col in ("Invoice", "StockCode", "Quantity", "InvoiceDate")):
        return "online_retail"
    lowered = {h.strip().lower() for h in header}
    if GENERIC_REQUIRED <= lowered:
        return "generic"
    raise ValidationFailed(
        "unrecognised CSV header: expected the Online Retail II columns or at least sku,date,quantity",
        details={"header": header[:20]})


def read_chunks(path: str | Path) -> Iterator[tuple[str, pd.DataFrame]]:
    """Yield ``(format, chunk)`` with a ``_line`` column (1-based file line numbers). .xz/.gz/.zip work."""
    try:
        header = list(pd.read_csv(path, nrows=0).columns)
    except (pd.errors.EmptyDataError, UnicodeDecodeError, pd.errors.ParserError) as exc:
        raise ValidationFailed(f"not a readable CSV file: {exc}") from exc
    fmt = detect_format(header)
    dtypes: dict[str, Any] = ({"Invoice": str, "StockCode": str, "Description": str, "Customer ID": str,
                               "Quantity": str, "Price": str, "Country": str} if fmt == "online_retail" else str)
    first_line = 2
    try:
        reader = pd.read_csv(path, dtype=dtypes, chunksize=CHUNK_ROWS, keep_default_na=False, na_values=[""])
        for chunk in reader:
            chunk["_line"] = np.arange(first_line, first_line + len(chunk))
            first_line += len(chunk)
            yield fmt, chunk
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise ValidationFailed(f"CSV parse error near line {first_line}: {exc}") from exc


def _numbers(series: pd.Series) -> pd.Series:
    return pd.to_numeric(series, errors="coerce")


def classify_online_retail(chunk: pd.DataFrame, counts: LineCounts, location: str) -> pd.DataFrame:
    """Online Retail II lines -> movement rows (see the module docstring for the rules)."""
    counts.lines += len(chunk)
    code = chunk["StockCode"].fillna("").str.strip()
    product = code.str.match(r"^\d{5}")
    counts.non_product += int((~product).sum())
    frame = chunk[product].copy()
    frame["sku"] = code[product]
    qty = _numbers(frame["Quantity"])
    price = _numbers(frame["Price"]).fillna(0.0)
    when = pd.to_datetime(frame["InvoiceDate"], format="%m/%d/%Y %H:%M", errors="coerce").dt.tz_localize("UTC")
    cancel = frame["Invoice"].fillna("").str.startswith("C")
    bad = qty.isna() | when.isna() | (qty == 0) | (qty != qty.round()) | (cancel & (qty > 0))
    for mask, reason in ((qty.isna(), "quantity is not a number"), (when.isna() & qty.notna(), "unreadable date"),
                         ((qty == 0) & when.notna(), "zero quantity"),
                         ((qty != qty.round()) & qty.notna() & when.notna(), "fractional quantity"),
                         (cancel & (qty > 0) & when.notna(), "positive quantity on a cancellation invoice")):
        counts.reject(mask, frame, reason)
    keep = ~bad
    frame, qty, price, when, cancel = frame[keep], qty[keep], price[keep], when[keep], cancel[keep]
    has_customer = frame["Customer ID"].notna()
    description = frame["Description"].fillna("").str.lower()
    sale = (qty > 0) & ((price > 0) | has_customer)
    found = (qty > 0) & ~sale
    write_off = (qty < 0) & ~cancel
    kind = np.select([sale, cancel, write_off, found], ["shipment", "return", "adjustment", "adjustment"], "")
    reason = np.select([cancel, found], ["cancellation", "found"], None).astype(object)
    write_off_reason = pd.Series("write_off", index=frame.index, dtype=object)
    for word, code_ in _WRITE_OFF_WORDS.items():
        write_off_reason[description.str.contains(word, regex=False)] = code_
    reason = np.where(write_off, write_off_reason, reason)
    counts.shipments += int(sale.sum())
    counts.cancellations += int(cancel.sum())
    counts.adjustments_out += int(write_off.sum())
    counts.adjustments_in += int(found.sum())
    delta = np.where(sale, -qty, np.where(cancel | found, qty.abs(), qty)).astype(np.int64)
    return pd.DataFrame({
        "sku": frame["sku"].to_numpy(), "location": location, "type": kind, "delta": delta,
        "reason": reason, "reference": ("invoice:" + frame["Invoice"].fillna("")).to_numpy(),
        "created_at": when.to_numpy(), "name": frame["Description"].to_numpy(),
        "price": np.where(sale, price, np.nan), "_line": frame["_line"].to_numpy(),
    })


def classify_generic(chunk: pd.DataFrame, counts: LineCounts, location: str) -> pd.DataFrame:
    """Generic ``sku,date,quantity[,type,location,reference,price,name]`` lines -> movement rows."""
    chunk = chunk.rename(columns={c: c.strip().lower() for c in chunk.columns})
    counts.lines += len(chunk)
    sku = chunk["sku"].fillna("").str.strip()
    qty = _numbers(chunk["quantity"])
    when = pd.to_datetime(chunk["date"], errors="coerce", utc=True, format="ISO8601")
    given = chunk["type"].fillna("").str.strip().str.lower() if "type" in chunk else pd.Series("", index=chunk.index)
    valid_type = given.isin(["", "shipment", "receipt", "return", "adjustment"])
    signed_ok = (given == "adjustment") | (given == "") | (qty > 0)
    bad_sku = ~sku.str.match(r"^[A-Za-z0-9][A-Za-z0-9._\-]{0,63}$")
    checks = [(bad_sku, "sku is empty or not a valid code"), (qty.isna(), "quantity is not a number"),
              (qty == 0, "zero quantity"), (qty != qty.round(), "fractional quantity"),
              (when.isna(), "unreadable date"), (~valid_type, "unknown type"),
              (~signed_ok, "quantity must be positive for this type")]
    if "location" in chunk:
        loc = chunk["location"].fillna(location).str.strip()
        checks.append((~loc.str.match(r"^[A-Za-z0-9][A-Za-z0-9._\-]{0,63}$"), "location is not a valid code"))
    bad = pd.Series(False, index=chunk.index)
    for mask, reason in checks:
        mask = mask & ~bad
        counts.reject(mask, chunk, reason)
        bad |= mask
    frame, qty, when, given, sku = chunk[~bad], qty[~bad], when[~bad], given[~bad], sku[~bad]
    kind = np.where(given == "", np.where(qty > 0, "shipment", "return"), given)
    delta = np.where(np.isin(kind, ["shipment"]), -qty.abs(),
                     np.where(kind == "adjustment", qty, qty.abs())).astype(np.int64)
    counts.shipments += int((kind == "shipment").sum())
    counts.returns += int((kind == "return").sum())
    counts.receipts += int((kind == "receipt").sum())
    counts.adjustments_out += int(((kind == "adjustment") & (qty < 0)).sum())
    counts.adjustments_in += int(((kind == "adjustment") & (qty > 0)).sum())
    locations = frame["location"].fillna(location).str.strip() if "location" in frame else location
    return pd.DataFrame({
        "sku": sku.to_numpy(), "location": locations, "type": kind, "delta": delta,
        "reason": np.where(kind == "adjustment", "other", None).astype(object),
        "reference": frame["reference"].to_numpy() if "reference" in frame else None,
        "created_at": when.to_numpy(), "name": frame["name"].to_numpy() if "name" in frame else None,
        "price": _numbers(frame["price"]).to_numpy() if "price" in frame else np.nan,
        "_line": frame["_line"].to_numpy(),
    })
