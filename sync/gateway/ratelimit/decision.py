"""What a limiter answers, and the response headers built from it (IETF draft + legacy X-RateLimit-*)."""

from __future__ import annotations

import math
from dataclasses import dataclass

from sync.gateway.models import RateLimit
from sync.gateway.types import Headers


@dataclass(frozen=True, slots=True)
class Decision:
    allowed: bool
    remaining: int
    reset: float  # seconds until the binding allowance is back
    retry_after: float  # seconds until a refused request would be admitted (0 when allowed)


def policy_header(limit: RateLimit) -> bytes:
    """``RateLimit-Policy`` (draft-ietf-httpapi-ratelimit-headers): every limit that applies."""
    burst_window = max(1, math.ceil(60 * limit.burst_limit / limit.requests_per_minute))
    return (f'"burst";q={limit.burst_limit};w={burst_window}, "minute";q={limit.requests_per_minute};w=60, '
            f'"hour";q={limit.requests_per_hour};w=3600').encode()


def decision_headers(limit: RateLimit, policy: bytes, decision: Decision) -> Headers:
    reset = str(max(0, math.ceil(decision.reset))).encode()
    remaining = str(max(0, decision.remaining)).encode()
    headers: Headers = [
        (b"ratelimit-policy", policy),
        (b"ratelimit", b'"minute";r=' + remaining + b";t=" + reset),
        (b"x-ratelimit-limit", str(limit.requests_per_minute).encode()),
        (b"x-ratelimit-remaining", remaining),
        (b"x-ratelimit-reset", reset),
    ]
    if not decision.allowed:
        headers.append((b"retry-after", str(max(1, math.ceil(decision.retry_after))).encode()))
    return headers
