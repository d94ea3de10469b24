"""The seed's two value objects: a service instance and a rate limit.

They are pydantic dataclasses so the seed's keyword calls work as written, and the admin routes
(`POST /services/{name}`, `POST /rate-limits/{endpoint}`) validate the same objects from JSON with a
4xx that names the field; properties they do not have are refused (422 naming each).
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any
from urllib.parse import urlsplit

from pydantic import ConfigDict, Field, field_validator
from pydantic.dataclasses import dataclass


def _http_url(value: str, field: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{field} must be an absolute http(s) URL, got {value!r}")
    if parts.query or parts.fragment:
        raise ValueError(f"{field} must not carry a query or fragment")
    return value


_STRICT = ConfigDict(extra="forbid")  # an unknown property is a 422 naming it, not silently dropped


@dataclass(frozen=True, config=_STRICT)
class ServiceEndpoint:
    """One instance of a service. ``name`` is unique per instance (it names its breaker and metrics)."""

    name: str = Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]*$")
    url: str = Field(min_length=1, max_length=2000)
    health_check_url: str = Field(min_length=1, max_length=2000)
    weight: int = Field(default=1, ge=1, le=1000)
    timeout: float = Field(default=30, gt=0, le=3600)
    retry_count: int = Field(default=3, ge=0, le=10)
    circuit_breaker_threshold: int = Field(default=5, ge=1, le=10_000)
    circuit_breaker_timeout: float = Field(default=60, gt=0, le=86_400)

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        return _http_url(value, "url").rstrip("/")

    @field_validator("health_check_url")
    @classmethod
    def _health(cls, value: str) -> str:
        return _http_url(value, "health_check_url")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, config=_STRICT)
class RateLimit:
    """Limits per client on an endpoint pattern; all three hold at once.

    ``burst_limit`` requests may arrive back to back; the allowance refills at ``requests_per_minute``
    per minute (GCRA). Independently, no 60-second window holds more than ``requests_per_minute`` and
    no 3600-second window more than ``requests_per_hour`` admitted requests (exact sliding windows).
    """

    requests_per_minute: int = Field(ge=1, le=10_000_000)
    requests_per_hour: int = Field(ge=1, le=1_000_000_000)
    burst_limit: int = Field(ge=1, le=10_000_000)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
