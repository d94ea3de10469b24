"""The base every service's app factory builds on: error shape, body limit, admin check."""

from __future__ import annotations

import hmac
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI, Request

from sync import __version__
from sync.errors import Forbidden, Unauthorized
from sync.settings import Settings
from sync.web.body_limit import BodySizeLimit
from sync.web.errors import document_error_responses, install_error_handlers
from sync.web.input_guards import DuplicateKeyGuard, NulGuard
from sync.web.metrics import install_metrics

if TYPE_CHECKING:
    from sync.gateway.auth import TokenVerifier


def create_service_app(
    *, title: str, settings: Settings, version: str = __version__, lifespan: Callable[..., Any] | None = None,
    description: str = "", body_limit_overrides: dict[str, int] | None = None,
) -> FastAPI:
    """A FastAPI app with the shared error handlers, request-size limit, NUL and duplicate-JSON-key guards and
    documented error responses (``sync.web.errors.document_error_responses``) installed.

    ``body_limit_overrides`` maps exact paths (an upload route) to their own body limit.
    """
    app = FastAPI(title=title, version=version, description=description, lifespan=lifespan)
    app.state.settings = settings
    install_error_handlers(app)
    app.add_middleware(DuplicateKeyGuard)  # inside the size limit: it reads bodies already bounded
    app.add_middleware(NulGuard)
    app.add_middleware(BodySizeLimit, max_bytes=settings.MAX_REQUEST_BYTES, overrides=body_limit_overrides)
    install_metrics(app, title)  # outermost: times every answer, the body limit's 413 included
    build_openapi = app.openapi
    documented: list[dict[str, Any]] = []  # the document FastAPI cached, once the errors are in it

    def openapi() -> dict[str, Any]:
        built = build_openapi()
        if not documented or documented[0] is not built:  # a new document (first call, or routes changed)
            documented[:] = [document_error_responses(app, built)]
        return built

    app.openapi = openapi  # type: ignore[method-assign]
    return app


def use_jwt_verifier(app: FastAPI, verifier: TokenVerifier) -> None:
    """Check admin JWTs with ``verifier`` (an app that already has one: the gateway's admin app)."""
    app.state.admin_jwt_verifier = verifier if verifier.enabled else None


def _verifier(request: Request) -> TokenVerifier | None:
    """The JWT verifier for this app, built on first use (None when no JWT key is configured)."""
    state = request.app.state
    if not hasattr(state, "admin_jwt_verifier"):
        from sync.gateway.auth import TokenVerifier

        use_jwt_verifier(request.app, TokenVerifier(state.settings))
    verifier: TokenVerifier | None = state.admin_jwt_verifier
    return verifier


def _admin_token(settings: Settings) -> str:
    return settings.ADMIN_TOKEN.get_secret_value() if settings.ADMIN_TOKEN else ""


def is_admin_token(settings: Settings, token: str) -> bool:
    """Whether ``token`` is the configured ``ADMIN_TOKEN`` (compared in constant time)."""
    expected = _admin_token(settings)
    return bool(expected) and hmac.compare_digest(token.encode(), expected.encode())


async def require_admin(request: Request) -> None:
    """FastAPI dependency for every admin route (the services' and the gateway's own): ``Authorization:
    Bearer <token>`` where the token is ``ADMIN_TOKEN``, or (with JWT configured) a JWT carrying the
    ``JWT_ADMIN_SCOPE`` scope.

    The caller's address proves nothing: behind the gateway every request comes from loopback. Without
    ``ADMIN_TOKEN`` and without JWT the admin routes are closed; ``inventory-system up`` / ``serve`` set
    a per-install token (``sync/web/admin_token.py``), so a fresh ``make run`` has one.
    """
    settings: Settings = request.app.state.settings
    verifier = _verifier(request)
    if not _admin_token(settings) and verifier is None:
        raise Forbidden("admin route: no ADMIN_TOKEN is configured, so admin routes are closed "
                        "(inventory-system up/serve create one in var/admin-token)")
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise Unauthorized("admin route: send Authorization: Bearer <ADMIN_TOKEN> (or an admin-scoped JWT)")
    if is_admin_token(settings, token):
        return
    if verifier is not None and token.count(".") == 2:
        principal = await verifier.verify(token)  # Unauthorized when invalid or expired
        if principal.has_scope(settings.JWT_ADMIN_SCOPE):
            return
        raise Forbidden(f"admin route: the token lacks the {settings.JWT_ADMIN_SCOPE!r} scope")
    raise Forbidden("admin route: the token is not the admin token")
