"""The most specific rule for this endpoint, applied per client (JWT subject, else address)."""

from __future__ import annotations

from dataclasses import dataclass

from sync.errors import RateLimited
from sync.gateway.clientip import ClientResolver
from sync.gateway.metrics import GatewayMetrics
from sync.gateway.ratelimit.decision import decision_headers
from sync.gateway.ratelimit.limiter import Limiter
from sync.gateway.ratelimit.rules import RuleTable
from sync.gateway.stages.context import RequestContext
from sync.gateway.types import ASGIApp, Receive, Scope, Send


@dataclass(slots=True, eq=False)
class RateLimitStage:
    """``limiter`` is chosen from the settings before the stage is built (``build_limiter``), never swapped."""

    app: ASGIApp
    rules: RuleTable
    limiter: Limiter
    clients: ClientResolver
    metrics: GatewayMetrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        ctx: RequestContext = scope["gateway"]
        if ctx.principal is not None:
            who = "sub:" + ctx.principal.subject
        else:
            forwarded = None
            if self.clients.trusted:
                for name, value in scope["headers"]:
                    if name == b"x-forwarded-for":
                        forwarded = value
            ctx.client = self.clients.client(scope, forwarded)
            who = "ip:" + ctx.client
        rule = self.rules.match(ctx.service, ctx.path)
        decision = await self.limiter.check(rule.pattern + "|" + who, rule.limit)
        headers = decision_headers(rule.limit_bytes, rule.policy, decision)
        if not decision.allowed:
            self.metrics.rate_limited[rule.pattern] += 1
            raise RateLimited(f"rate limit exceeded for {rule.pattern}",
                              headers={k.decode("latin-1"): v.decode("latin-1") for k, v in headers},
                              details={"rule": rule.pattern, "retry_after": round(decision.retry_after, 3)})
        ctx.response_headers.extend(headers)
        await self.app(scope, receive, send)
