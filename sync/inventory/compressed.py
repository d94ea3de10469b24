"""Decompressing an upload or a file safely: bounded memory, a size limit, damaged files refused whole.

Used by ``POST /imports`` (on the streamed body) and by ``import_transactions`` (the CLI, on a local
``.xz`` / ``.gz`` file, checked whole before anything is parsed).
"""

from __future__ import annotations

import hashlib
import lzma
import zlib
from pathlib import Path
from typing import Any, BinaryIO

from sync.errors import PayloadTooLarge, ValidationFailed

OUT_STEP = 1 << 20  # most decompressed bytes produced by one call: memory stays bounded whatever the ratio
XZ_MEMLIMIT = 256 << 20  # an xz header may ask for a 1.5 GiB dictionary; preset 9 needs 65 MiB
_MAGIC = {"gzip": b"\x1f\x8b", "xz": b"\xfd7zXZ\x00"}


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


class _Discard:
    def write(self, data: bytes) -> int:
        return len(data)


def verify_file(path: str | Path, *, limit: int | None = None) -> None:
    """Refuse (``ValidationFailed``) a local CSV that is damaged: a ``.xz`` / ``.gz`` cut short, corrupt
    or with trailing junk, or any file with a NUL byte (pandas would silently cut the field there)."""
    path = Path(path)
    kind = {".xz": "xz", ".gz": "gzip"}.get(path.suffix.lower())
    if path.suffix.lower() == ".zip":
        return  # zipfile checks each member's CRC itself
    inflater = Inflater(kind, limit or 1 << 62, _Discard())  # type: ignore[arg-type]
    with path.open("rb") as source:
        while chunk := source.read(1 << 20):
            inflater.feed(chunk)
    inflater.finish()
