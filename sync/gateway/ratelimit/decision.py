"""What a limiter answers, and the response headers built from it (IETF draft + legacy X-RateLimit-*)."""

from __future__ import annotations

import math

from sync.gateway.models import RateLimit
from sync.gateway.types import Headers


class Decision:
    """A limiter's answer (a plain slotted class: built once per request, so kept cheap)."""

    __slots__ = ("allowed", "remaining", "reset", "retry_after")

    def __init__(self, allowed: bool, remaining: int, reset: float, retry_after: float) -> None:
        self.allowed = allowed
        self.remaining = remaining
        self.reset = reset  # seconds until the binding allowance is back
        self.retry_after = retry_after  # seconds until a refused request would be admitted (0 if allowed)


def policy_header(limit: RateLimit) -> bytes:
    """``RateLimit-Policy`` (draft-ietf-httpapi-ratelimit-headers): every limit that applies."""
    burst_window = max(1, math.ceil(60 * limit.burst_limit / limit.requests_per_minute))
    return (f'"burst";q={limit.burst_limit};w={burst_window}, "minute";q={limit.requests_per_minute};w=60, '
            f'"hour";q={limit.requests_per_hour};w=3600').encode()


def decision_headers(limit_bytes: bytes, policy: bytes, decision: Decision) -> Headers:
    reset = str(max(0, math.ceil(decision.reset))).encode()
    remaining = str(max(0, decision.remaining)).encode()
    headers: Headers = [
        (b"ratelimit-policy", policy),
        (b"ratelimit", b'"minute";r=' + remaining + b";t=" + reset),
        (b"x-ratelimit-limit", limit_bytes),
        (b"x-ratelimit-remaining", remaining),
        (b"x-ratelimit-reset", reset),
    ]
    if not decision.allowed:
        headers.append((b"retry-after", str(max(1, math.ceil(decision.retry_after))).encode()))
    return headers
