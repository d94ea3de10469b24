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
from typing import Annotated, Any, BinaryIO

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from sync.errors import PayloadTooLarge, ValidationFailed
from sync.inventory import idempotency
from sync.inventory.deps import IdempotencyKey, State
from sync.inventory.importer import ImportReport, import_file
from sync.web import require_admin

router = APIRouter(tags=["imports"])
LocationCode = Annotated[str, Query(max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9._\-]*$")]


OUT_STEP = 1 << 20  # most decompressed bytes produced by one call: memory stays bounded whatever the ratio
XZ_MEMLIMIT = 256 << 20  # an xz header may ask for a 1.5 GiB dictionary; preset 9 needs 65 MiB
_MAGIC = {"gzip": b"\x1f\x8b", "xz": b"\xfd7zXZ\x00"}


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


class Inflater:
    """Writes an upload to ``out`` as it arrives, decompressed, never holding more than ``OUT_STEP``
    decompressed bytes at once, and refuses (nothing kept) a body that decompresses past ``limit``, is
    corrupt, is cut short, or has anything but another complete stream after its end.

    ``feed`` and ``finish`` do CPU work: the route calls them in a worker thread, off the event loop.
    """

    def __init__(self, kind: str | None, limit: int, out: BinaryIO) -> None:
        self.kind, self.limit, self.out = kind, limit, out
        self.written = 0
        self.digest = hashlib.sha256()
        self.tail = b""  # bytes after a finished stream, not yet enough to tell what they are
        self.streams = 0
        self.dec: Any = self._new() if kind else None

    def _new(self) -> Any:
        self.streams += 1
        if self.kind == "gzip":
            return zlib.decompressobj(wbits=47)  # gzip or zlib header
        return lzma.LZMADecompressor(format=lzma.FORMAT_XZ, memlimit=XZ_MEMLIMIT)

    def _emit(self, data: bytes) -> None:
        if not data:
            return
        self.written += len(data)
        if self.written > self.limit:
            raise PayloadTooLarge(f"import over {self.limit} bytes (decompressed)", details={"max_bytes": self.limit})
        if b"\x00" in data:
            raise ValidationFailed("the file contains a NUL byte: a CSV file is text",
                                   details=[{"field": "body", "problem": "NUL byte"}])
        self.digest.update(data)
        self.out.write(data)

    def feed(self, data: bytes) -> None:
        if self.dec is None:
            self._emit(data)
            return
        try:
            while data:
                if self.dec.eof:
                    data = self._after_end(data)
                    continue
                data = self._inflate(data)
        except (zlib.error, lzma.LZMAError, EOFError) as exc:
            raise ValidationFailed(f"the compressed body is corrupt: {exc}",
                                   details=[{"field": "body", "problem": "corrupt"}]) from exc

    def _inflate(self, data: bytes) -> bytes:
        """Decompress ``data`` in bounded steps; returns what follows the end of the stream, if it ended."""
        dec = self.dec
        if self.kind == "xz":
            while not dec.eof:
                self._emit(dec.decompress(data, OUT_STEP))
                data = b""
                if dec.needs_input:
                    return b""
            return bytes(dec.unused_data)
        while not dec.eof:
            out = dec.decompress(data, OUT_STEP)
            self._emit(out)
            data = dec.unconsumed_tail
            if not data and len(out) < OUT_STEP and not dec.eof:
                return b""
        return bytes(dec.unused_data)

    def _after_end(self, data: bytes) -> bytes:
        """After a stream's end only another stream (``cat a.gz b.gz``) or xz's zero padding may follow."""
        assert self.kind is not None
        buffer, self.tail = self.tail + data, b""
        magic = _MAGIC[self.kind]
        if buffer.startswith(magic):
            self.dec = self._new()
            return buffer
        if self.kind == "xz" and not buffer.strip(b"\x00"):
            self.tail = buffer  # stream padding, checked whole at the end
            return b""
        if len(buffer) < len(magic) and magic.startswith(buffer):
            self.tail = buffer
            return b""
        raise ValidationFailed("data after the end of the compressed stream: the file is damaged",
                               details=[{"field": "body", "problem": "trailing data"}])

    def finish(self) -> str:
        """Check the body was complete; returns the sha256 of the decompressed CSV."""
        if self.dec is not None:
            if not self.dec.eof:
                raise ValidationFailed("the compressed body is cut short: its end is missing",
                                       details=[{"field": "body", "problem": "truncated"}])
            if self.tail and not self.tail.strip(b"\x00") and (self.kind != "xz" or len(self.tail) % 4):
                raise ValidationFailed("data after the end of the compressed stream: the file is damaged",
                                       details=[{"field": "body", "problem": "trailing data"}])
            if self.tail.strip(b"\x00"):
                raise ValidationFailed("the compressed body is cut short: a second stream is incomplete",
                                       details=[{"field": "body", "problem": "truncated"}])
        if self.written == 0:
            raise ValidationFailed("empty body: send the CSV file as the request body",
                                   details=[{"field": "body", "problem": "empty"}])
        return self.digest.hexdigest()


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
    key = idempotency.check_key(key)
    limit = request.app.state.settings.INVENTORY_IMPORT_MAX_BYTES
    with tempfile.TemporaryDirectory(prefix="inventory-import-") as folder:
        path = Path(folder) / "upload.csv"
        content_hash = await _spool(request, path, limit)
        fp = idempotency.fingerprint("POST", request.url.path, {"location": location, "sha256": content_hash})
        if key is not None:
            stored = await run_in_threadpool(idempotency.lookup, state.engine, key, fp)
            if stored is not None:
                return JSONResponse(stored.body, status_code=stored.status, headers={"Idempotent-Replayed": "true"})

        def store_key(conn: Any, report: ImportReport) -> None:
            if key is not None:
                idempotency.save(conn, key, fp, 201, report.to_dict())

        try:
            report = await run_in_threadpool(
                lambda: import_file(state.engine, path, location=location, actor="import:http",
                                    before_commit=store_key))
        except idempotency.KeyTaken:
            assert key is not None
            stored = await run_in_threadpool(idempotency.lookup, state.engine, key, fp)
            assert stored is not None
            return JSONResponse(stored.body, status_code=stored.status, headers={"Idempotent-Replayed": "true"})
    assert report is not None  # no guard, so never skipped
    return JSONResponse(report.to_dict(), status_code=201)
