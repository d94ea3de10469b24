"""``POST /imports``: bulk import of a sales-history CSV (admin only, streamed, size-limited).

The body is the CSV itself (``text/csv``), or gzip/xz-compressed (``Content-Type: application/gzip`` /
``application/x-xz``, or ``Content-Encoding: gzip``). It is streamed to a temporary file while being
decompressed and counted: over ``INVENTORY_IMPORT_MAX_BYTES`` decompressed is a 413 and nothing is
written. (The compressed body is also bounded by the service-wide ``MAX_REQUEST_BYTES``.)
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from sync.errors import ValidationFailed
from sync.inventory import idempotency
from sync.inventory.compressed import Inflater
from sync.inventory.deps import IdempotencyKey, State, post_write
from sync.inventory.importer import ImportReport, import_file
from sync.web import require_admin
from sync.web.input_guards import check_idempotency_key

router = APIRouter(tags=["imports"])
LocationCode = Annotated[str, Query(max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9._\-]*$")]


def _kind(request: Request) -> str | None:
    """``gzip``, ``xz`` or None (plain CSV), from Content-Type / Content-Encoding."""
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    encoding = request.headers.get("content-encoding", "").strip().lower()
    if encoding == "gzip" or kind in ("application/gzip", "application/x-gzip"):
        return "gzip"
    if encoding == "xz" or kind in ("application/x-xz", "application/xz"):
        return "xz"
    if encoding and encoding != "identity":
        raise ValidationFailed(f"Content-Encoding {encoding!r} is not supported",
                               details=[{"field": "Content-Encoding", "problem": "use gzip or xz"}])
    if kind and kind not in ("text/csv", "text/plain", "application/octet-stream", "application/csv"):
        raise ValidationFailed(f"Content-Type {kind!r} is not a CSV upload",
                               details=[{"field": "Content-Type",
                                         "problem": "use text/csv, application/gzip or application/x-xz"}])
    return None


async def _spool(request: Request, target: Path, limit: int) -> str:
    """Stream the body into ``target`` (decompressed), enforcing ``limit``; returns its sha256."""
    kind = _kind(request)
    with target.open("wb") as out:
        inflater = Inflater(kind, limit, out)
        async for chunk in request.stream():
            if chunk:
                await run_in_threadpool(inflater.feed, chunk)
        return await run_in_threadpool(inflater.finish)


@router.post("/imports", status_code=201, dependencies=[Depends(require_admin)],
             summary="Import sales history (Online Retail II or generic CSV); admin only")
async def import_csv(request: Request, state: State, location: LocationCode = "MAIN",
                     key: IdempotencyKey = None) -> JSONResponse:
    key = check_idempotency_key(key)
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
