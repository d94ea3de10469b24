"""The gateway's own routes: status, health, registry, rate limits, metrics.

A small FastAPI app, dispatched by the router before the proxy, so it shares the services' error shape
and OpenAPI. Changing state (registering services, setting limits) needs an admin token when JWT is
configured, else a loopback caller; reading the registry or rules needs a valid token when JWT is
configured. ``/``, ``/health`` and ``/metrics`` are open.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import Depends, FastAPI, Query, Request, Response
from fastapi.responses import JSONResponse

from sync.errors import Forbidden, Unauthorized, ValidationFailed
from sync.gateway import admin_ops
from sync.gateway.auth import Principal, bearer_token
from sync.gateway.models import RateLimit, ServiceEndpoint
from sync.settings import Settings
from sync.web.app import create_service_app, is_loopback

if TYPE_CHECKING:
    from sync.gateway.gateway import APIGateway

VERSION = "0.1.0"


def _gateway(request: Request) -> APIGateway:
    return request.app.state.gateway  # type: ignore[no-any-return]


async def _principal(request: Request) -> Principal | None:
    gateway = _gateway(request)
    if not gateway.verifier.enabled:
        return None
    token = bearer_token(list(request.scope["headers"]))
    if token is None:
        raise Unauthorized("send Authorization: Bearer <token>")
    return await gateway.verifier.verify(token)


async def require_reader(request: Request) -> None:
    await _principal(request)


async def require_admin(request: Request) -> None:
    gateway = _gateway(request)
    if not gateway.verifier.enabled:
        if not is_loopback(request.client.host if request.client else None):
            raise Forbidden("admin route: JWT is not configured, so only loopback callers may change the gateway")
        return
    principal = await _principal(request)
    scope = gateway.settings.JWT_ADMIN_SCOPE
    if principal is None or not principal.has_scope(scope):
        raise Forbidden(f"admin route: the token lacks the {scope!r} scope")


Reader = Annotated[None, Depends(require_reader)]
Admin = Annotated[None, Depends(require_admin)]


def create_admin_app(gateway: APIGateway, settings: Settings) -> FastAPI:
    app = create_service_app(title="Inventory API Gateway", settings=settings, version=VERSION,
                             description="Routing, load balancing, health, breakers, rate limits and JWT.")
    app.state.gateway = gateway

    @app.get("/", summary="Gateway status")
    async def status(request: Request) -> dict[str, Any]:
        gw = _gateway(request)
        return {"name": "Inventory API Gateway", "version": VERSION, "status": "running",
                "services": sorted(gw.registry.pools), "auth": "jwt" if gw.verifier.enabled else "none",
                "rate_limit_backend": "redis" if gw.redis_limits else "memory",
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
        defaults = {"timeout": gw.settings.GATEWAY_TIMEOUT,
                    "circuit_breaker_threshold": gw.settings.CIRCUIT_BREAKER_THRESHOLD,
                    "circuit_breaker_timeout": gw.settings.CIRCUIT_BREAKER_TIMEOUT}
        ttl = admin_ops.ttl_from(sent, ttl)  # "ttl" may also come in the body
        omitted = {k: v for k, v in defaults.items() if k not in sent and k != "ttl"}
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
                "default": gw.rules.default.to_dict(), "backend": "redis" if gw.redis_limits else "memory"}

    @app.post("/rate-limits/{endpoint:path}", summary="Set the limit for an endpoint pattern")
    async def set_limit(request: Request, endpoint: str, limit: RateLimit, _: Admin) -> dict[str, Any]:
        gw = _gateway(request)
        try:
            pattern = await gw.set_rule(endpoint, limit)
        except ValueError as exc:
            raise ValidationFailed(str(exc), details={"field": "endpoint"}) from exc
        return {"endpoint": pattern, "limit": limit.to_dict()}

    admin_ops.install(app, _gateway, Reader, Admin)  # DELETE /services/..., PUT /services/.../policy, /debug

    @app.get("/metrics", summary="Prometheus metrics", response_class=Response)
    async def metrics(request: Request) -> Response:
        return Response(_gateway(request).metrics.render(), media_type="text/plain; version=0.0.4")

    return app
