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
from sync.inventory.schemas import CODE_MAX, CODE_PATTERN, MAX_MONEY, MAX_QUANTITY, NAME_MAX, REFERENCE_MAX

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
    dtypes: dict[str, Any] | type[str] = ({"Invoice": str, "StockCode": str, "Description": str, "Customer ID": str,
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


_WHOLE = r"[+-]?\d+"
_CODE = CODE_PATTERN.removeprefix("^").removesuffix("$")


def quantity_checks(text: pd.Series) -> tuple[pd.Series, list[tuple[pd.Series, str]]]:
    """The API's quantity rules (``schemas.Quantity``) for a column of text: a whole number written as
    digits (not ``1e3``, ``5.0``, ``inf``), at most ``MAX_QUANTITY`` units either way, not zero.

    Returns the quantities (NaN where refused) and the ``(mask, reason)`` refusals, in order.
    """
    text = text.fillna("").astype(str).str.strip()
    number = _numbers(text)
    whole = text.str.fullmatch(_WHOLE)
    not_number = number.isna() & ~whole
    out_of_range = ~not_number & (~np.isfinite(number.fillna(np.inf)) | (number.abs() > MAX_QUANTITY))
    fractional = ~not_number & ~out_of_range & ~whole
    checks = [(not_number, "quantity is not a number"),
              (out_of_range, f"quantity is out of range (at most {MAX_QUANTITY} units)"),
              (fractional, "quantity is not a whole number"), (~not_number & (number == 0), "zero quantity")]
    refused = not_number | out_of_range | fractional
    return number.where(~refused), checks


def price_checks(text: pd.Series | None, index: pd.Index) -> tuple[pd.Series, list[tuple[pd.Series, str]]]:
    """The API's price rules (``SkuIn.price``): empty means unknown; else finite, >= 0, <= ``MAX_MONEY``."""
    if text is None:
        return pd.Series(np.nan, index=index), []
    text = text.fillna("").astype(str).str.strip()
    number = _numbers(text)
    given = text != ""
    bad = given & ~(np.isfinite(number.fillna(np.inf)) & (number >= 0) & (number <= float(MAX_MONEY)))
    return number.where(given & ~bad), [(bad, f"price is not a number from 0 to {MAX_MONEY}")]


def text_checks(column: pd.Series | None, field: str, max_length: int) -> list[tuple[pd.Series, str]]:
    """The API's length cap. (A NUL byte refuses the whole upload before parsing: pandas would cut the field.)"""
    if column is None:
        return []
    return [(column.str.len() > max_length, f"{field} is longer than {max_length} characters")]


def code_check(codes: pd.Series, field: str) -> tuple[pd.Series, str]:
    valid = codes.str.fullmatch(_CODE) & (codes.str.len() <= CODE_MAX)
    return ~valid.fillna(False).astype(bool), f"{field} is empty or not a valid code"


def apply_checks(frame: pd.DataFrame, counts: LineCounts, checks: list[tuple[pd.Series, str]]) -> pd.Series:
    """Count each refused line once, under the first check it fails; returns the mask of refused lines."""
    bad = pd.Series(False, index=frame.index)
    for mask, reason in checks:
        mask = mask.fillna(False).astype(bool) & ~bad
        counts.reject(mask, frame, reason)
        bad |= mask
    return bad


def classify_online_retail(chunk: pd.DataFrame, counts: LineCounts, location: str) -> pd.DataFrame:
    """Online Retail II lines -> movement rows (see the module docstring for the rules)."""
    counts.lines += len(chunk)
    code = chunk["StockCode"].fillna("").str.strip()
    product = code.str.match(r"^\d{5}")
    counts.non_product += int((~product).sum())
    frame = chunk[product].copy()
    frame["sku"] = code[product]
    qty, quantity_refusals = quantity_checks(frame["Quantity"])
    price, price_refusals = price_checks(frame["Price"], frame.index)
    when = pd.to_datetime(frame["InvoiceDate"], format="%m/%d/%Y %H:%M", errors="coerce").dt.tz_localize("UTC")
    cancel = frame["Invoice"].fillna("").str.startswith("C")
    bad = apply_checks(frame, counts, [
        code_check(frame["sku"], "StockCode"), *quantity_refusals, (when.isna(), "unreadable date"),
        (cancel & (qty > 0), "positive quantity on a cancellation invoice"), *price_refusals,
        *text_checks("invoice:" + frame["Invoice"].fillna(""), "Invoice", REFERENCE_MAX),
        *text_checks(frame["Description"], "Description", NAME_MAX)])
    keep = ~bad
    frame, qty, price, when, cancel = frame[keep], qty[keep], price[keep].fillna(0.0), when[keep], cancel[keep]
    has_customer = frame["Customer ID"].notna()
    description = frame["Description"].fillna("").str.lower()
    sale = (qty > 0) & ((price > 0) | has_customer)
    found = (qty > 0) & ~sale
    write_off = (qty < 0) & ~cancel
    kind = np.select([sale, cancel, write_off, found], ["shipment", "return", "adjustment", "adjustment"], "")
    reason = np.select([cancel, found], ["cancellation", "found"], np.array(None)).astype(object)
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
        "created_at": when.dt.tz_localize(None).to_numpy(), "name": frame["Description"].to_numpy(),
        "price": np.where(sale, price, np.nan), "_line": frame["_line"].to_numpy(),
    })


def classify_generic(chunk: pd.DataFrame, counts: LineCounts, location: str) -> pd.DataFrame:
    """Generic ``sku,date,quantity[,type,location,reference,price,name]`` lines -> movement rows."""
    chunk = chunk.rename(columns={c: c.strip().lower() for c in chunk.columns})
    counts.lines += len(chunk)
    sku = chunk["sku"].fillna("").str.strip()
    qty, quantity_refusals = quantity_checks(chunk["quantity"])
    price, price_refusals = price_checks(chunk.get("price"), chunk.index)
    when = pd.to_datetime(chunk["date"], errors="coerce", utc=True, format="ISO8601")
    given = chunk["type"].fillna("").str.strip().str.lower() if "type" in chunk else pd.Series("", index=chunk.index)
    valid_type = given.isin(["", "shipment", "receipt", "return", "adjustment"])
    signed_ok = (given == "adjustment") | (given == "") | (qty > 0)
    checks = [code_check(sku, "sku"), *quantity_refusals, (when.isna(), "unreadable date"),
              (~valid_type, "unknown type"), (~signed_ok & qty.notna(), "quantity must be positive for this type"),
              *price_refusals, *text_checks(chunk.get("reference"), "reference", REFERENCE_MAX),
              *text_checks(chunk.get("name"), "name", NAME_MAX)]
    if "location" in chunk:
        checks.append(code_check(chunk["location"].fillna(location).str.strip(), "location"))
    bad = apply_checks(chunk, counts, checks)
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
    out = pd.DataFrame({
        "sku": sku.to_numpy(), "location": locations, "type": kind, "delta": delta,
        "reason": np.where(kind == "adjustment", "other", np.array(None)).astype(object),
        "created_at": when.dt.tz_localize(None).to_numpy(), "price": price[~bad].to_numpy(),
        "_line": frame["_line"].to_numpy(),
    })
    for optional in ("reference", "name"):  # absent columns are added once after the concat (cheaper)
        if optional in frame:
            out[optional] = frame[optional].to_numpy()
    return out
