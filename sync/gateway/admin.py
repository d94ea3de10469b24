"""The gateway's own routes: status, health, registry, rate limits, metrics.

A small FastAPI app, dispatched by the router before the proxy, so it shares the services' error shape
and OpenAPI. Changing state (registering services, setting limits) takes the services' one admin check,
:func:`sync.web.app.require_admin`: the admin token (``ADMIN_TOKEN``, else the per-install one) or an
admin-scoped JWT, never the caller's address. Reading the registry or rules needs a valid token (or the
admin token) when JWT is configured. ``/``, ``/health`` and ``/metrics`` are open.
"""

from __future__ import annotations

import re
from dataclasses import replace
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import Depends, FastAPI, Query, Request, Response
from fastapi.responses import JSONResponse

from sync import __version__
from sync.errors import Conflict, Unauthorized, ValidationFailed
from sync.gateway import admin_ops
from sync.gateway.auth import bearer_token
from sync.gateway.models import RateLimit, ServiceEndpoint
from sync.settings import Settings
from sync.ui.app import mount_dashboard
from sync.web.app import create_service_app, is_admin_token, require_admin, use_jwt_verifier

if TYPE_CHECKING:
    from sync.gateway.gateway import APIGateway

MAX_RULES = 200  # rate-limit rules a gateway holds; replacing one is always allowed
MAX_PATTERN_LENGTH = 200
MAX_WILDCARDS = 8
_PATTERN_CHARS = re.compile(r"^[A-Za-z0-9_.~\-/*?\[\]!:@]+$")


def check_rule_pattern(pattern: str, services: list[str]) -> str:
    """The normalised pattern (no leading slash) of a rule posted to the admin API, or ValueError.

    ``service`` or ``service/...``: path characters and the glob wildcards ``* ? [...]``, at most
    ``MAX_PATTERN_LENGTH`` characters and ``MAX_WILDCARDS`` wildcards, no empty, ``.`` or ``..`` segment, and
    the first segment must be a registered service or ``*`` (all services), so stray strings add no rules.
    """
    pattern = pattern.strip().lstrip("/")
    if not pattern or len(pattern) > MAX_PATTERN_LENGTH or not _PATTERN_CHARS.match(pattern):
        raise ValueError(f"endpoint pattern must be 1-{MAX_PATTERN_LENGTH} characters: letters, digits, "
                         "'/', '_.~-:@' and the glob wildcards '*', '?', '[...]'")
    if sum(pattern.count(c) for c in "*?[") > MAX_WILDCARDS:
        raise ValueError(f"endpoint pattern has more than {MAX_WILDCARDS} wildcards")
    segments = pattern.split("/")
    if any(seg in ("", ".", "..") for seg in segments):
        raise ValueError("endpoint pattern has an empty, '.' or '..' path segment")
    if segments[0] != "*" and segments[0] not in services:
        raise ValueError(f"endpoint pattern must start with a registered service or '*'; {segments[0]!r} is "
                         f"none of {sorted(services)}")
    return pattern


def _gateway(request: Request) -> APIGateway:
    return request.app.state.gateway  # type: ignore[no-any-return]


async def require_reader(request: Request) -> None:
    """With JWT configured, reading the registry or the rules needs a valid token (any scope) or the admin
    token (who may change the gateway may read it)."""
    gateway = _gateway(request)
    if not gateway.verifier.enabled:
        return
    token = bearer_token(list(request.scope["headers"]))
    if token is None:
        raise Unauthorized("send Authorization: Bearer <token>")
    if not is_admin_token(gateway.settings, token):
        await gateway.verifier.verify(token)


Reader = Annotated[None, Depends(require_reader)]
Admin = Annotated[None, Depends(require_admin)]


def create_admin_app(gateway: APIGateway, settings: Settings) -> FastAPI:
    app = create_service_app(title="Inventory API Gateway", settings=settings, version=__version__,
                             description="Routing, load balancing, health, breakers, rate limits and JWT.")
    app.state.gateway = gateway
    use_jwt_verifier(app, gateway.verifier)  # the admin check verifies JWTs with the gateway's keys and cache

    @app.get("/", summary="Gateway status")
    async def status(request: Request) -> dict[str, Any]:
        gw = _gateway(request)
        return {"name": "Inventory API Gateway", "version": __version__, "status": "running",
                "services": sorted(gw.registry.pools), "auth": "jwt" if gw.verifier.enabled else "none",
                "rate_limit_backend": gw.limiter.backend,
                "endpoints": ["/health", "/services", "/rate-limits", "/metrics", "/{service}/{path}"]}

    @app.get("/health", summary="Gateway health and its dependencies")
    async def health(request: Request) -> JSONResponse:
        body, code = await _gateway(request).health_report()
        return JSONResponse(body, status_code=code)

    @app.get("/services", summary="Registered services and their instances")
    async def services(request: Request, _: Reader) -> dict[str, Any]:
        gw = _gateway(request)
        await gw.refresh_shared()
        return {"services": gw.registry.describe()}

    @app.post("/services/{service_name}", status_code=201, summary="Register an instance of a service")
    async def register(request: Request, service_name: str, endpoint: ServiceEndpoint, _: Admin,
                       ttl: Annotated[float | None, Query(gt=0, le=86_400)] = None) -> dict[str, Any]:
        gw = _gateway(request)
        sent = await request.json()
        defaults: dict[str, Any] = {"timeout": gw.settings.GATEWAY_TIMEOUT,
                                    "circuit_breaker_threshold": gw.settings.CIRCUIT_BREAKER_THRESHOLD,
                                    "circuit_breaker_timeout": gw.settings.CIRCUIT_BREAKER_TIMEOUT}
        omitted = {k: v for k, v in defaults.items() if k not in sent}
        if omitted:  # fields the caller left out follow the gateway's settings, not the class defaults
            endpoint = replace(endpoint, **omitted)
        try:
            await gw.register(service_name, endpoint, ttl)
        except ValueError as exc:
            raise ValidationFailed(str(exc), details={"field": "service_name"}) from exc
        return {"service": service_name, "instance": endpoint.to_dict(), "registered": True, "ttl": ttl}

    @app.get("/rate-limits", summary="Rate-limit rules per endpoint pattern")
    async def rate_limits(request: Request, _: Reader) -> dict[str, Any]:
        gw = _gateway(request)
        await gw.refresh_shared()
        return {"rules": {p: lim.to_dict() for p, lim in sorted(gw.rules.rules.items())},
                "default": gw.rules.default.to_dict(), "backend": gw.limiter.backend}

    @app.post("/rate-limits/{endpoint:path}", summary="Set the limit for an endpoint pattern")
    async def set_limit(request: Request, endpoint: str, limit: RateLimit, _: Admin) -> dict[str, Any]:
        gw = _gateway(request)
        await gw.refresh_shared()  # services registered and rules set through other replicas count too
        try:
            pattern = check_rule_pattern(endpoint, list(gw.registry.pools))
        except ValueError as exc:
            raise ValidationFailed(str(exc), details={"field": "endpoint", "endpoint": endpoint[:100]}) from exc
        if pattern not in gw.rules.rules and len(gw.rules.rules) >= MAX_RULES:
            raise Conflict(f"the gateway already holds {MAX_RULES} rate-limit rules; replace one instead",
                           details={"field": "endpoint", "max_rules": MAX_RULES})
        try:
            pattern = await gw.set_rule(pattern, limit)
        except ValueError as exc:
            raise ValidationFailed(str(exc), details={"field": "endpoint"}) from exc
        return {"endpoint": pattern, "limit": limit.to_dict()}

    admin_ops.install(app, _gateway, Reader, Admin)  # DELETE /services/..., PUT /services/.../policy, /debug

    @app.get("/metrics", summary="Prometheus metrics", response_class=Response)
    async def metrics(request: Request) -> Response:
        return Response(_gateway(request).metrics.render(), media_type="text/plain; version=0.0.4")

    mount_dashboard(app)  # the planner's dashboard at /ui/ (static files, sync/ui)
    return app
