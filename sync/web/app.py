"""The base every service's app factory builds on: error shape, body limit, admin check."""

from __future__ import annotations

import hmac
import ipaddress
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI, Request

from sync.errors import Forbidden, Unauthorized
from sync.settings import Settings
from sync.web.body_limit import BodySizeLimit
from sync.web.errors import document_error_responses, install_error_handlers
from sync.web.input_guards import DuplicateKeyGuard


def create_service_app(
    *, title: str, settings: Settings, version: str = "0.1.0", lifespan: Callable[..., Any] | None = None,
    description: str = "", body_limit_overrides: dict[str, int] | None = None,
) -> FastAPI:
    """A FastAPI app with the shared error handlers, request-size limit, duplicate-JSON-key guard and
    documented error responses (``sync.web.errors.document_error_responses``) installed.

    ``body_limit_overrides`` maps exact paths (an upload route) to their own body limit.
    """
    app = FastAPI(title=title, version=version, description=description, lifespan=lifespan)
    app.state.settings = settings
    install_error_handlers(app)
    app.add_middleware(DuplicateKeyGuard)  # inside the size limit: it reads bodies already bounded
    app.add_middleware(BodySizeLimit, max_bytes=settings.MAX_REQUEST_BYTES, overrides=body_limit_overrides)
    build_openapi = app.openapi

    def openapi() -> dict[str, Any]:
        built = build_openapi()
        if not built.get("x-error-responses"):  # FastAPI caches the document: add them once
            document_error_responses(app, built)
            built["x-error-responses"] = True
        return built

    app.openapi = openapi  # type: ignore[method-assign]
    return app


def is_loopback(host: str | None) -> bool:
    if not host:
        return False
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def require_admin(request: Request) -> None:
    """FastAPI dependency for admin routes.

    With ``ADMIN_TOKEN`` set the caller must send ``Authorization: Bearer <token>``; without it only
    loopback callers are admitted (a fresh ``make run`` is usable, a remote caller is not).
    """
    settings: Settings = request.app.state.settings
    expected = settings.ADMIN_TOKEN.get_secret_value() if settings.ADMIN_TOKEN else None
    if expected:
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token:
            raise Unauthorized("admin route: send Authorization: Bearer <ADMIN_TOKEN>")
        if not hmac.compare_digest(token.encode(), expected.encode()):
            raise Forbidden("admin route: the token is not the admin token")
        return
    client = request.client.host if request.client else None
    if not is_loopback(client):
        raise Forbidden("admin route: ADMIN_TOKEN is not configured, so only loopback callers are admitted")
