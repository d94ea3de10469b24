"""Splitting ``/{service}/{path}`` and normalising the path so it cannot leave the service's prefix.

Dot segments (also percent-encoded ones) are resolved; a path that would climb above the service's
root is refused, as are encoded slashes and backslashes, which an upstream could decode into new
segments after the gateway has checked them.
"""

from __future__ import annotations

from sync.errors import BadRequest

_FORBIDDEN = (b"%2f", b"%5c", b"\\", b"\x00", b"%00")


def split_target(raw_path: bytes) -> tuple[str, bytes]:
    """``(service, upstream_path)`` for a raw request path; upstream_path starts with ``/``."""
    if not raw_path.startswith(b"/"):
        raise BadRequest("request path must start with /", details={"field": "path"})
    rest = raw_path[1:]
    service, _, tail = rest.partition(b"/")
    lowered = raw_path.lower()
    needs_check = tail.startswith(b".") or b"/." in tail or b"%" in lowered  # a dot segment, or escapes
    if needs_check:
        for bad in _FORBIDDEN:
            if bad in lowered:
                raise BadRequest("path contains an encoded slash, backslash or NUL", details={"field": "path"})
        tail = _resolve(tail)
    try:
        name = service.decode("ascii")
    except UnicodeDecodeError as exc:
        raise BadRequest("service name must be ASCII", details={"field": "path"}) from exc
    return name, b"/" + tail


def _resolve(tail: bytes) -> bytes:
    out: list[bytes] = []
    segments = tail.split(b"/")
    for i, seg in enumerate(segments):
        plain = seg.lower().replace(b"%2e", b".")
        if plain == b".":
            if i == len(segments) - 1:
                out.append(b"")
            continue
        if plain == b"..":
            if not out:
                raise BadRequest("path climbs out of the service's prefix (..)", details={"field": "path"})
            out.pop()
            if i == len(segments) - 1:
                out.append(b"")
            continue
        out.append(seg)
    return b"/".join(out)
