"""Active health checks: every ``HEALTH_CHECK_INTERVAL`` seconds, GET each instance's health URL.

A 2xx marks the instance healthy, anything else (or no answer within the timeout) unhealthy, and an
unhealthy instance gets no traffic until a later check passes. Passive detection (errors on proxied
requests) is the circuit breaker's job.
"""

from __future__ import annotations

import asyncio
import logging

from sync.gateway.balancer import Instance
from sync.gateway.metrics import GatewayMetrics
from sync.gateway.registry import Registry
from sync.gateway.upstream import UpstreamError, UpstreamPool, split_url

log = logging.getLogger("sync.gateway.health")


class HealthChecker:
    def __init__(self, registry: Registry, upstreams: UpstreamPool, interval: float, metrics: GatewayMetrics) -> None:
        self.registry = registry
        self.upstreams = upstreams
        self.interval = interval
        self.timeout = min(interval, 5.0)
        self.metrics = metrics

    async def run(self) -> None:
        """Check every interval until cancelled. Instances start healthy (optimistic, so a fresh gateway
        serves at once); the first check comes one interval after start-up."""
        while True:
            await asyncio.sleep(self.interval)
            await self.check_all()

    async def check_all(self) -> None:
        instances = self.registry.instances()
        if instances:
            await asyncio.gather(*(self.check(inst) for inst in instances))

    async def check(self, inst: Instance) -> bool:
        error: str | None = None
        try:
            base, target = split_url(inst.endpoint.health_check_url)
            async with asyncio.timeout(self.timeout):
                resp = await self.upstreams.request(base, "GET", target, [(b"user-agent", b"sync-gateway-health")],
                                                    None, read_timeout=self.timeout)
                try:
                    await resp.read()
                finally:
                    resp.release()
            if not 200 <= resp.status < 300:
                error = f"health check answered {resp.status}"
        except (TimeoutError, UpstreamError, OSError, ValueError) as exc:
            error = f"health check failed: {type(exc).__name__}: {exc}"
        healthy = error is None
        self.metrics.health_checks[(inst.name, "pass" if healthy else "fail")] += 1
        if healthy != inst.healthy:
            log.warning("instance %s of %s is now %s%s", inst.name, inst.service,
                        "healthy" if healthy else "unhealthy", f" ({error})" if error else "")
        inst.healthy = healthy
        inst.last_health_error = error
        return healthy
