"""The package's own exception tree.

Lower-level errors (SQLAlchemy, aiohttp, scikit-learn) are translated into these at one boundary per
layer (``raise ... from exc``); the web layer turns them into the SPEC's JSON error shape
``{"error": {"code", "message", "details"}}``.
"""

from __future__ import annotations

from typing import Any


class SyncError(Exception):
    """Base of every error the system raises on purpose. ``status`` is the HTTP status it maps to."""

    status: int = 500
    code: str = "internal_error"

    def __init__(self, message: str, *, details: Any = None, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details
        if code is not None:
            self.code = code

    def to_dict(self) -> dict[str, Any]:
        return {"error": {"code": self.code, "message": self.message, "details": self.details}}


class ValidationFailed(SyncError, ValueError):
    """Input that is well-formed JSON but not acceptable (a missing column, a bad value)."""

    status = 422
    code = "validation_error"


class BadRequest(SyncError, ValueError):
    status = 400
    code = "bad_request"


class NotFound(SyncError, KeyError):
    status = 404
    code = "not_found"

    def __str__(self) -> str:  # KeyError would quote the message
        return self.message


class Conflict(SyncError):
    """The request is valid but clashes with current state (short stock, reused idempotency key)."""

    status = 409
    code = "conflict"


class Unauthorized(SyncError):
    status = 401
    code = "unauthorized"


class Forbidden(SyncError):
    status = 403
    code = "forbidden"


class PayloadTooLarge(SyncError):
    status = 413
    code = "payload_too_large"


class RateLimited(SyncError):
    status = 429
    code = "rate_limited"


class UpstreamUnavailable(SyncError):
    """A dependency (an upstream service, the database, Redis) cannot answer now."""

    status = 503
    code = "service_unavailable"


class BadGateway(UpstreamUnavailable):
    """An upstream could not be reached, or broke off its answer."""

    status = 502
    code = "bad_gateway"


class GatewayTimeout(UpstreamUnavailable):
    """An upstream did not answer in time."""

    status = 504
    code = "gateway_timeout"


class NotFitted(SyncError, RuntimeError):
    """A model was asked to predict before it was trained (or loaded)."""

    status = 409
    code = "model_not_trained"
