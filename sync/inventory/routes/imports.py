"""``POST /imports``: bulk import of a sales-history CSV (admin only, streamed, size-limited).

The body is the CSV itself (``text/csv``), or gzip/xz-compressed (``Content-Type: application/gzip`` /
``application/x-xz``, or ``Content-Encoding: gzip``). It is streamed to a temporary file while being
decompressed and counted: over ``INVENTORY_IMPORT_MAX_BYTES`` decompressed is a 413 and nothing is
written. (The compressed body is also bounded by the service-wide ``MAX_REQUEST_BYTES``.)
"""

from __future__ import annotations

import hashlib
import lzma
import tempfile
import zlib
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from sync.errors import PayloadTooLarge, ValidationFailed
from sync.inventory import idempotency
from sync.inventory.deps import IdempotencyKey, State, post_write
from sync.inventory.importer import ImportReport, import_file
from sync.web import require_admin

router = APIRouter(tags=["imports"])
LocationCode = Annotated[str, Query(max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9._\-]*$")]


def _decompressor(request: Request) -> Any:
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    encoding = request.headers.get("content-encoding", "").strip().lower()
    if encoding == "gzip" or kind in ("application/gzip", "application/x-gzip"):
        return zlib.decompressobj(wbits=47)
    if encoding == "xz" or kind in ("application/x-xz", "application/xz"):
        return lzma.LZMADecompressor()
    if kind and kind not in ("text/csv", "text/plain", "application/octet-stream", "application/csv"):
        raise ValidationFailed(f"Content-Type {kind!r} is not a CSV upload",
                               details=[{"field": "Content-Type",
                                         "problem": "use text/csv, application/gzip or application/x-xz"}])
    return None


async def _spool(request: Request, target: Path, limit: int) -> str:
    """Stream the body into ``target`` (decompressed), enforcing ``limit``; returns its sha256."""
    decompressor = _decompressor(request)
    digest, written = hashlib.sha256(), 0
    with target.open("wb") as out:
        async for chunk in request.stream():
            if not chunk:
                continue
            if decompressor is not None and getattr(decompressor, "eof", False):
                raise ValidationFailed("data after the end of the compressed stream")
            try:
                data = decompressor.decompress(chunk) if decompressor else chunk
            except (zlib.error, lzma.LZMAError) as exc:
                raise ValidationFailed(f"the compressed body is corrupt: {exc}") from exc
            written += len(data)
            if written > limit:
                raise PayloadTooLarge(f"import over {limit} bytes (decompressed)", details={"max_bytes": limit})
            digest.update(data)
            out.write(data)
    if written == 0:
        raise ValidationFailed("empty body: send the CSV file as the request body",
                               details=[{"field": "body", "problem": "empty"}])
    return digest.hexdigest()


@router.post("/imports", status_code=201, dependencies=[Depends(require_admin)],
             summary="Import sales history (Online Retail II or generic CSV); admin only")
async def import_csv(request: Request, state: State, location: LocationCode = "MAIN",
                     key: IdempotencyKey = None) -> JSONResponse:
    key = idempotency.check_key(key)
    limit = request.app.state.settings.INVENTORY_IMPORT_MAX_BYTES
    with tempfile.TemporaryDirectory(prefix="inventory-import-") as folder:
        path = Path(folder) / "upload.csv"
        content_hash = await _spool(request, path, limit)

        async def write(slot: idempotency.KeySlot | None) -> dict[str, Any]:
            def store_key(conn: Any, report: ImportReport) -> None:
                if slot is not None:
                    slot.save(conn, report.to_dict())

            report = await run_in_threadpool(
                lambda: import_file(state.engine, path, location=location, actor="import:http",
                                    before_commit=store_key))
            assert report is not None  # no guard, so never skipped
            return report.to_dict()

        return await post_write(request, state, key, lambda: {"location": location, "sha256": content_hash}, 201,
                                write)
