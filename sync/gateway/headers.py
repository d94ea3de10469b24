"""Header rules for proxying: what is stripped, what is added, in both directions.

Hop-by-hop headers (RFC 9110 7.6.1) and any header named in ``Connection`` are removed both ways.
``Host`` is set by the upstream client to the instance's; the original goes in ``X-Forwarded-Host``.
``traceparent``/``tracestate`` pass through untouched like every other end-to-end header.
"""

from __future__ import annotations

from sync.gateway.types import Headers

HOP_BY_HOP = frozenset({
    b"connection", b"keep-alive", b"proxy-authenticate", b"proxy-authorization", b"proxy-connection", b"te",
    b"trailer", b"trailers", b"transfer-encoding", b"upgrade",
})
_REQUEST_DROP = HOP_BY_HOP | {b"host", b"x-forwarded-for", b"x-forwarded-proto", b"x-forwarded-host",
                              b"x-request-id", b"content-length", b"expect"}
_RESPONSE_DROP = HOP_BY_HOP | {b"date", b"server"}


def _connection_named(headers: Headers) -> frozenset[bytes]:
    named: set[bytes] = set()
    for name, value in headers:
        if name.lower() == b"connection":
            named.update(v.strip().lower() for v in value.split(b",") if v.strip())
    return frozenset(named)


def upstream_request_headers(headers: Headers) -> tuple[Headers, dict[bytes, bytes]]:
    """End-to-end request headers (names lower-case, as ASGI gives them), plus the dropped ones the proxy
    still needs to read."""
    extra = _connection_named(headers) if any(n == b"connection" for n, _ in headers) else frozenset()
    kept: Headers = []
    seen: dict[bytes, bytes] = {}
    for name, value in headers:
        if name in _REQUEST_DROP or name in extra:
            seen[name] = value
            continue
        kept.append((name, value))
    return kept, seen


def downstream_response_headers(raw: list[tuple[bytes, bytes]]) -> Headers:
    """Upstream response headers minus hop-by-hop ones (the upstream client has de-chunked the body)."""
    out: Headers = []
    named: frozenset[bytes] = frozenset()
    for name, value in raw:
        lname = name.lower()
        if lname in _RESPONSE_DROP:
            if lname == b"connection":
                named = _connection_named([(lname, value)])
            continue
        out.append((lname, value))
    if named:
        out = [(n, v) for n, v in out if n not in named]
    return out
