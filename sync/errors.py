"""The package's own exception tree, and the one builder of the SPEC's JSON error shape.

Lower-level errors (SQLAlchemy, httpx, the gateway's upstream connections, scikit-learn) are translated
into these at one boundary per layer (``raise ... from exc``). Every error answer of every service and of
the gateway, whether from FastAPI's exception handlers or from raw-ASGI code, has its body built by
:func:`error_body`: ``{"error": {"code", "message", "details"}}``.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

STATUS_CODES: Mapping[int, str] = MappingProxyType({
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    408: "request_timeout",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_error",
    429: "rate_limited",
    500: "internal_error",
    502: "bad_gateway",
    503: "service_unavailable",
    504: "gateway_timeout",
})
"""The ``code`` an error answer carries for its HTTP status, unless the error names a more specific one."""

NO_HEADERS: Mapping[str, str] = MappingProxyType({})


def error_body(status: int, message: str, details: Any = None, code: str | None = None) -> dict[str, Any]:
    """The JSON error shape of every answer; ``code`` defaults to the status's entry in ``STATUS_CODES``."""
    return {"error": {"code": code or STATUS_CODES.get(status, "error"), "message": message, "details": details}}


class SyncError(Exception):
    """Base of every error the system raises on purpose.

    ``status`` is the HTTP status it maps to; ``code`` is ``STATUS_CODES[status]`` unless a subclass or the
    raiser names its own; ``headers`` go on the error answer (``Retry-After`` on a 503 or 429,
    ``WWW-Authenticate`` on a 401), set per class or per raise.
    """

    status: int = 500
    code: str = STATUS_CODES[500]
    headers: Mapping[str, str] = NO_HEADERS

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "code" not in cls.__dict__:
            cls.code = STATUS_CODES[cls.status]

    def __init__(self, message: str, *, details: Any = None, code: str | None = None,
                 headers: Mapping[str, str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details
        if code is not None:
            self.code = code
        if headers is not None:
            self.headers = headers

    def to_dict(self) -> dict[str, Any]:
        return error_body(self.status, self.message, self.details, self.code)


class ValidationFailed(SyncError, ValueError):
    """Input that is well-formed JSON but not acceptable (a missing column, a bad value)."""

    status = 422


class BadRequest(SyncError, ValueError):
    status = 400


class NotFound(SyncError, KeyError):
    status = 404

    def __str__(self) -> str:  # KeyError would quote the message
        return self.message


class Conflict(SyncError):
    """The request is valid but clashes with current state (short stock, reused idempotency key)."""

    status = 409


class Unauthorized(SyncError):
    status = 401


class Forbidden(SyncError):
    status = 403


class RequestTimeout(SyncError):
    """The client stopped sending its request body (the connection is closed after the answer)."""

    status = 408


class PayloadTooLarge(SyncError):
    status = 413


class RateLimited(SyncError):
    status = 429


class UpstreamUnavailable(SyncError):
    """A dependency (an upstream service, the database, Redis) cannot answer now."""

    status = 503


class BadGateway(UpstreamUnavailable):
    """An upstream could not be reached, or broke off its answer."""

    status = 502


class GatewayTimeout(UpstreamUnavailable):
    """An upstream did not answer in time."""

    status = 504


class NotFitted(SyncError, RuntimeError):
    """A model was asked to predict before it was trained (or loaded)."""

    status = 409
    code = "model_not_trained"
