"""Active health checks: GET each instance's health URL; a 2xx passes, anything else (or no answer within
the timeout) fails.

Health checks decide readiness; the circuit breaker counts failures of real traffic. An instance is
``starting`` until its first check passes: the gateway checks every instance once at start-up, then a
starting or failing instance every ``min(HEALTH_CHECK_INTERVAL, 1 s)`` and a healthy one every
``HEALTH_CHECK_INTERVAL``. A request that finds no instance ready but one still starting checks it on
the spot (one check in flight per instance, shared by every request waiting on it), so a service that
comes up after the gateway serves its first request the moment its health URL answers, and nothing
about it ever opens a breaker.
"""

from __future__ import annotations

import asyncio
import logging
import time

from sync.gateway.balancer import HEALTHY, STARTING, UNHEALTHY, Instance, Pool
from sync.gateway.metrics import GatewayMetrics
from sync.gateway.registry import Registry
from sync.gateway.upstream import UpstreamError, split_url
from sync.gateway.upstream_libs import Upstreams

log = logging.getLogger("sync.gateway.health")

NOT_READY_INTERVAL = 1.0  # seconds between checks of a starting or failing instance (at most)


class HealthChecker:
    def __init__(self, registry: Registry, upstreams: Upstreams, interval: float, metrics: GatewayMetrics) -> None:
        self.registry = registry
        self.upstreams = upstreams
        self.interval = interval
        self.not_ready_interval = min(interval, NOT_READY_INTERVAL)
        self.timeout = min(interval, 5.0)
        self.metrics = metrics
        self._in_flight: dict[int, asyncio.Task[bool]] = {}

    async def run(self) -> None:
        """Check each instance when it is due, until cancelled."""
        while True:
            now = time.monotonic()
            instances = self.registry.instances()
            due = [inst for inst in instances if inst.next_check <= now]
            if due:
                await asyncio.gather(*(self.check(inst) for inst in due))
            soonest = min((inst.next_check for inst in instances), default=now + self.not_ready_interval)
            await asyncio.sleep(min(self.not_ready_interval, max(0.05, soonest - time.monotonic())))

    async def check_all(self) -> None:
        instances = self.registry.instances()
        if instances:
            await asyncio.gather(*(self.check(inst) for inst in instances))

    async def check_starting(self, pool: Pool) -> bool:
        """Check now the starting instances of ``pool`` that are out of rotation; is any of them ready?"""
        waiting = [inst for inst in pool.instances if inst.starting and not inst.healthy]
        if not waiting:
            return False
        results = await asyncio.gather(*(self._check_once(inst) for inst in waiting))
        return any(results)

    def _check_once(self, inst: Instance) -> asyncio.Future[bool]:
        """The instance's request-triggered check in flight, or a new one."""
        key = id(inst)
        task = self._in_flight.get(key)
        if task is not None:
            return task
        task = self._in_flight[key] = asyncio.ensure_future(self.check(inst))
        task.add_done_callback(lambda _: self._in_flight.pop(key, None))
        return task

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
        now = time.monotonic()
        self.metrics.health_checks[(inst.name, "pass" if healthy else "fail")] += 1
        state = HEALTHY if healthy else (STARTING if inst.starting else UNHEALTHY)
        if state != inst.health_state or healthy != inst.healthy:
            routine = state != UNHEALTHY and inst.health_state == STARTING  # a start-up, not an incident
            log.log(logging.INFO if routine else logging.WARNING, "instance %s of %s is now %s%s", inst.name,
                    inst.service, "healthy" if healthy else ("not ready yet" if state == STARTING else "unhealthy"),
                    f" ({error})" if error else "")
        inst.healthy = healthy
        inst.health_state = state
        inst.last_health_error = error
        inst.next_check = now + (self.interval if healthy else self.not_ready_interval)
        return healthy
