"""With JWT configured, proxied routes need a valid bearer token unless the path is public."""

from __future__ import annotations

import re
from fnmatch import translate

from sync.errors import Unauthorized
from sync.gateway.auth import TokenVerifier, bearer_token
from sync.gateway.metrics import GatewayMetrics
from sync.gateway.stages.context import RequestContext
from sync.gateway.types import ASGIApp, Receive, Scope, Send


class Authenticate:
    def __init__(self, app: ASGIApp, verifier: TokenVerifier, public_paths: list[str],
                 metrics: GatewayMetrics) -> None:
        self.app = app
        self.verifier = verifier
        self.public = re.compile("|".join(f"(?:{translate(p)})" for p in public_paths)) if public_paths else None
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not self.verifier.enabled:
            await self.app(scope, receive, send)
            return
        ctx: RequestContext = scope["gateway"]
        token = bearer_token(scope["headers"])
        if token is None:
            if not self._public(ctx):
                self.metrics.auth_failures["missing"] += 1
                raise Unauthorized("this route needs Authorization: Bearer <token>",
                                   headers={"WWW-Authenticate": 'Bearer realm="gateway"'})
        else:
            ctx.principal = self.verifier.cached(token)
        if token is not None and ctx.principal is None:
            try:
                ctx.principal = await self.verifier.verify(token)
            except Unauthorized as exc:
                if not self._public(ctx):
                    self.metrics.auth_failures[exc.code] += 1
                    raise Unauthorized(exc.message, code=exc.code, headers={
                        "WWW-Authenticate": 'Bearer realm="gateway", error="invalid_token"'}) from exc
        await self.app(scope, receive, send)

    def _public(self, ctx: RequestContext) -> bool:
        return self.public is not None and self.public.match(f"/{ctx.service}/{ctx.path}") is not None
