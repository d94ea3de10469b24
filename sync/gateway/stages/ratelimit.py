"""Stage 5: the most specific rule for this endpoint, applied per client (JWT subject, else address)."""

from __future__ import annotations

from typing import Protocol

from sync.errors import RateLimited
from sync.gateway.clientip import ClientResolver
from sync.gateway.metrics import GatewayMetrics
from sync.gateway.models import RateLimit
from sync.gateway.ratelimit.decision import Decision, decision_headers, policy_header
from sync.gateway.ratelimit.rules import RuleTable
from sync.gateway.stages.context import RequestContext
from sync.gateway.stages.errors import GatewayError
from sync.gateway.types import ASGIApp, Receive, Scope, Send


class Limiter(Protocol):
    async def check(self, key: str, limit: RateLimit) -> Decision: ...


class RateLimitStage:
    def __init__(self, app: ASGIApp, rules: RuleTable, limiter: Limiter, clients: ClientResolver,
                 metrics: GatewayMetrics) -> None:
        self.app = app
        self.rules = rules
        self.limiter = limiter
        self.clients = clients
        self.metrics = metrics
        self._policies: dict[RateLimit, bytes] = {}

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
        limit = rule.limit
        decision = await self.limiter.check(rule.pattern + "|" + who, limit)
        policy = self._policies.get(limit)
        if policy is None:
            policy = self._policies[limit] = policy_header(limit)
        headers = decision_headers(limit, policy, decision)
        if not decision.allowed:
            self.metrics.rate_limited[rule.pattern] += 1
            raise GatewayError(RateLimited, f"rate limit exceeded for {rule.pattern}", headers=headers,
                               details={"rule": rule.pattern, "retry_after": round(decision.retry_after, 3)})
        ctx.response_headers.extend(headers)
        await self.app(scope, receive, send)
