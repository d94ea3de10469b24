"""The gateway's request pipeline, declared once: the list of stages in :func:`build_pipeline`.

Each stage is a plain ASGI class whose first argument is the app it wraps; the list holds them outermost
first, each with everything else it needs already bound, and the proxy answers at the end. The chain is
built once, when the gateway is constructed, and never changed afterwards: what a stage depends on (the
limiter, Redis or memory) is decided from the settings before the stage is built and handed to it.

1. :class:`~.stages.errors.ErrorHandling` turns any exception into the JSON error shape (never a trace).
2. :class:`~.stages.request_id.RequestId` takes a valid ``X-Request-ID`` or makes one, returns it, and
   records status and latency in the metrics.
3. :class:`~.stages.body_timeout.BodyTimeout` answers 408 when a request body stops arriving.
4. :class:`~.stages.router.Router` sends the gateway's own routes to the admin app and everything else down:
5. :class:`~.stages.authenticate.Authenticate` checks the bearer token (when JWT is configured),
6. :class:`~.stages.ratelimit.RateLimitStage` applies the endpoint's limit for this client,
7. :class:`~.fallback.Fallback` keeps good answers and serves one when no instance can (when enabled),
8. :class:`~.stages.proxy.Proxy` picks an instance and streams the exchange over the upstream pool.

Stages share per-request facts through ``scope["gateway"]`` (a :class:`~.stages.context.RequestContext`).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING

from sync.gateway.admin import create_admin_app
from sync.gateway.fallback import Fallback
from sync.gateway.stages.authenticate import Authenticate
from sync.gateway.stages.body_timeout import BodyTimeout
from sync.gateway.stages.errors import ErrorHandling
from sync.gateway.stages.proxy import Proxy
from sync.gateway.stages.ratelimit import RateLimitStage
from sync.gateway.stages.request_id import RequestId
from sync.gateway.stages.router import Router
from sync.gateway.types import ASGIApp
from sync.settings import csv_list

if TYPE_CHECKING:
    from sync.gateway.gateway import APIGateway

Stage = Callable[[ASGIApp], ASGIApp]  # takes the app it wraps


def build_pipeline(gateway: APIGateway) -> ASGIApp:
    """The ASGI app that serves one request: the stages below, outermost first, around the proxy."""
    settings = gateway.settings
    stages: tuple[Stage, ...] = (
        ErrorHandling,
        partial(RequestId, metrics=gateway.metrics),
        partial(BodyTimeout, seconds=settings.GATEWAY_BODY_TIMEOUT),
        partial(Router, admin=create_admin_app(gateway, settings), lookup=gateway.registry.get,
                lookup_missing=gateway.lookup_missing),
        partial(Authenticate, verifier=gateway.verifier, public_paths=csv_list(settings.GATEWAY_PUBLIC_PATHS),
                metrics=gateway.metrics),
        partial(RateLimitStage, rules=gateway.rules, limiter=gateway.limiter, clients=gateway.clients,
                metrics=gateway.metrics),
        partial(Fallback, cache=gateway.fallbacks, registry=gateway.registry,
                default_max_age=settings.GATEWAY_FALLBACK_MAX_AGE),
    )
    app: ASGIApp = Proxy(upstreams=gateway.upstreams, max_body=settings.GATEWAY_MAX_BODY_BYTES,
                         budget=gateway.budget, metrics=gateway.metrics, clients=gateway.clients,
                         debug=lambda: gateway.debug_mode, request_deadline=settings.GATEWAY_REQUEST_DEADLINE,
                         readiness=gateway.health)
    for stage in reversed(stages):
        app = stage(app)
    return app
