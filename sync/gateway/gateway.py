"""`APIGateway`: the seed's object. Holds the state and builds the ASGI pipeline that serves it.

``gateway.app`` is an ASGI 3 object (an instance with ``async __call__``, which uvicorn detects as
ASGI 3; a bare bound method would be taken for ASGI 2). Start-up (Redis, the
health and shared-state tasks) happens at ASGI lifespan start-up or, when the server sends no
lifespan, on the first request; shutdown closes all of it, and the upstream connection pool.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

import redis.asyncio as aioredis
from prometheus_client.core import GaugeMetricFamily
from redis.exceptions import RedisError

from sync import __version__
from sync.gateway.auth import TokenVerifier
from sync.gateway.balancer import Pool
from sync.gateway.breaker import BreakerState
from sync.gateway.clientip import ClientResolver, parse_networks
from sync.gateway.fallback import FallbackCache
from sync.gateway.health import HealthChecker
from sync.gateway.metrics import GatewayMetrics
from sync.gateway.models import RateLimit, ServiceEndpoint
from sync.gateway.pipeline import build_pipeline
from sync.gateway.ratelimit.limiter import Limiter, build_limiter
from sync.gateway.ratelimit.resp import RespError
from sync.gateway.ratelimit.rules import RuleTable
from sync.gateway.registry import Registry, ServicePolicy
from sync.gateway.retry import RetryBudget
from sync.gateway.shared import SharedState
from sync.gateway.types import ASGIApp, Receive, Scope, Send
from sync.gateway.upstream_libs import make_pool
from sync.settings import Settings, csv_list

log = logging.getLogger("sync.gateway")

_STOP_GRACE = 2.0  # seconds a background task gets to end after its cancellation
_MISS_RELOAD_INTERVAL = 0.1
EXPIRY_SWEEP_INTERVAL = 0.25  # seconds between looks for registrations whose TTL ran out


class APIGateway:
    """The API gateway: register services, set rate limits, serve ``.app`` with any ASGI server."""

    def __init__(self, redis_url: str | None = None, settings: Settings | None = None, *,
                 clock: Callable[[], float] = time.monotonic) -> None:
        settings = settings or Settings()
        if redis_url:  # the seed's argument: the Redis of the shared registry and, unless set apart, of the limits
            settings = settings.model_copy(update={"REDIS_URL": redis_url})
        self.settings = settings
        self.redis_url = settings.REDIS_URL
        self._clock = clock
        self._debug = False
        self.metrics = GatewayMetrics()
        self.metrics.gauges = self._gauges
        self.registry = Registry(clock, self._breaker_changed)
        self.rules = RuleTable(RateLimit(requests_per_minute=self.settings.RATE_LIMIT_DEFAULT_PER_MINUTE,
                                         requests_per_hour=self.settings.RATE_LIMIT_DEFAULT_PER_HOUR,
                                         burst_limit=self.settings.RATE_LIMIT_DEFAULT_PER_MINUTE))
        self.verifier = TokenVerifier(self.settings)
        self.clients = ClientResolver(parse_networks(csv_list(self.settings.GATEWAY_TRUSTED_PROXIES)))
        self.budget = RetryBudget(clock=clock)
        self.upstreams = make_pool(self.settings.GATEWAY_UPSTREAM_CLIENT)
        self.fallbacks = FallbackCache(self.settings.GATEWAY_FALLBACK_MAX_ENTRIES,
                                       self.settings.GATEWAY_FALLBACK_MAX_BYTES, clock)
        self._redis: aioredis.Redis | None = None
        self.shared: SharedState | None = None
        self.limiter: Limiter = build_limiter(settings, on_error=self._count_backend_error, clock=clock)
        self._tasks: list[asyncio.Task[None]] = []
        self._started = False
        self._start_lock: asyncio.Lock | None = None
        self._last_miss_reload = 0.0
        self.health = HealthChecker(self.registry, self.upstreams, self.settings.HEALTH_CHECK_INTERVAL, self.metrics)
        self._asgi = _GatewayApp(self, build_pipeline(self))

    # --- the seed's API -------------------------------------------------------------------
    @property
    def app(self) -> ASGIApp:
        """The ASGI 3 application (``uvicorn.run(gateway.app, ...)``)."""
        return self._asgi

    @property
    def debug_mode(self) -> bool:
        return self._debug

    @debug_mode.setter
    def debug_mode(self, value: bool) -> None:
        self._debug = bool(value)
        log.info("gateway debug mode %s", "on: every routing decision is logged" if value else "off")
        self._share(lambda shared: shared.share_debug(bool(value)))

    def _remote_debug(self, value: bool) -> None:
        self._debug = value
        log.info("gateway debug mode %s (switched on another gateway process)", "on" if value else "off")

    def add_service(self, service_name: str, endpoint: ServiceEndpoint) -> None:
        """Register one instance of ``service_name`` (call once per instance)."""
        self.registry.add(service_name, endpoint)
        self._share(lambda shared: shared.save_service(service_name, endpoint))

    def set_rate_limit(self, pattern: str, limit: RateLimit) -> None:
        """Limit ``pattern`` (a glob such as ``inventory/*``) per client."""
        pattern = self.rules.set(pattern, limit)
        self._share(lambda shared: shared.save_rule(pattern, limit))

    # --- used by the admin routes ---------------------------------------------------------
    async def register(self, service_name: str, endpoint: ServiceEndpoint, ttl: float | None = None) -> None:
        """Register an instance; with ``ttl`` it is dropped unless registered again within ``ttl`` seconds."""
        self.registry.add(service_name, endpoint, ttl)
        if ttl is not None and self._started:
            self._start_sweeper()
        if self.shared is not None:
            await self._shared_call(self.shared.save_service(service_name, endpoint))

    async def deregister(self, service_name: str, instance: str) -> bool:
        """Remove an instance (on every process sharing Redis); False when there is no such instance."""
        if self.shared is not None:
            await self._shared_call(self.shared.load())
        gone = self.registry.remove(service_name, instance)
        if gone is None:
            return False
        log.info("instance %s of %s deregistered", instance, service_name)
        if self.shared is not None:
            await self._shared_call(self.shared.remove_service(service_name, instance))
        return True

    async def set_policy(self, service_name: str, policy: ServicePolicy) -> None:
        self.registry.set_policy(service_name, policy)
        if self.shared is not None:
            await self._shared_call(self.shared.save_policy(service_name, policy))

    async def expire_instances(self) -> list[str]:
        """Drop registrations whose TTL ran out (asking Redis first whether another process saw a renewal)."""
        dropped = []
        for inst in self.registry.expired():
            if self.shared is not None:
                try:
                    left = await self.shared.lease_left(inst.service, inst.name)
                except (RedisError, OSError):
                    left = 0.0  # Redis unreachable: the local TTL decides
                if left > 0:
                    inst.expires = self._clock() + left
                    continue
            if self.registry.remove(inst.service, inst.name) is not None:
                dropped.append(inst.name)
                log.warning("instance %s of %s expired: no registration renewal within its %ss TTL",
                            inst.name, inst.service, inst.ttl)
        return dropped

    def _start_sweeper(self) -> None:
        """Look for expired registrations (with Redis always: other processes may register with a TTL)."""
        if not any(t.get_name() == "gateway-registry-expiry" and not t.done() for t in self._tasks):
            self._tasks.append(asyncio.create_task(self._sweep(), name="gateway-registry-expiry"))

    async def _sweep(self) -> None:
        while True:
            await asyncio.sleep(EXPIRY_SWEEP_INTERVAL)
            try:
                await self.expire_instances()
            except Exception:
                log.exception("registry expiry sweep failed")

    async def set_rule(self, pattern: str, limit: RateLimit) -> str:
        pattern = self.rules.set(pattern, limit)
        if self.shared is not None:
            await self._shared_call(self.shared.save_rule(pattern, limit))
        return pattern

    async def refresh_shared(self) -> None:
        if self.shared is not None:
            await self._shared_call(self.shared.load())

    async def health_report(self) -> tuple[dict[str, Any], int]:
        deps: dict[str, Any] = {}
        for service, pool in sorted(self.registry.pools.items()):
            usable = sum(1 for i in pool.instances if i.healthy and i.breaker.available())
            deps[service] = {"status": "ok" if usable else "down", "healthy_instances": usable,
                             "instances": len(pool.instances)}
        status = "ok" if all(d["status"] == "ok" for d in deps.values()) else "degraded"
        if self.settings.rate_limit_redis_url:
            try:
                await self.limiter.ping()
                deps["redis"] = {"status": "ok"}
            except (RedisError, RespError, OSError) as exc:
                deps["redis"] = {"status": "down", "error": str(exc)}
                status = "degraded"
        code = 503 if deps.get("redis", {}).get("status") == "down" and self.settings.RATE_LIMIT_FAIL_CLOSED else 200
        return {"status": status, "service": "gateway", "version": __version__, "dependencies": deps}, code

    # --- lifecycle ------------------------------------------------------------------------
    async def start(self) -> None:
        """Open connections and start background tasks (idempotent)."""
        if self._started:
            return
        if self._start_lock is None:
            self._start_lock = asyncio.Lock()
        async with self._start_lock:
            if self._started:
                return
            if self.redis_url:
                self._redis = _redis_client(self.redis_url)
                self.shared = SharedState(self._redis, self.registry, self.rules, self._clock)
                self.shared.on_debug = self._remote_debug
                try:
                    await self.shared.push_local()
                    await self.shared.load()
                except (RedisError, OSError) as exc:
                    log.error("shared registry: Redis unreachable at start (%s); using local state", exc)
                self._tasks.append(asyncio.create_task(self.shared.listen(), name="gateway-shared"))
                self._tasks.append(asyncio.create_task(self.shared.watch(), name="gateway-shared-watch"))
                try:  # so that events published once start-up returns are not missed
                    await asyncio.wait_for(self.shared.subscribed.wait(), timeout=2.0)
                except TimeoutError:
                    log.warning("shared registry: not subscribed to Redis events yet; continuing")
            await self.health.check_all()  # readiness first: an instance that is not up yet gets no traffic
            self._tasks.append(asyncio.create_task(self.health.run(), name="gateway-health"))
            if self.shared is not None or self.registry.expired(float("inf")):
                self._start_sweeper()
            self._started = True

    async def aclose(self) -> None:
        """Stop background tasks, close upstream connections and Redis clients."""
        tasks, self._tasks = self._tasks, []
        await _stop_tasks(tasks, self._wake_redis_waiters)
        if self.shared is not None:
            await self.shared.aclose()
        await self.upstreams.aclose()
        if self._redis is not None:
            await self._redis.aclose()
        await self.limiter.aclose()
        self._redis = None
        self.shared = None
        self._started = False

    async def _wake_redis_waiters(self) -> None:
        if self._redis is not None:
            await self._redis.connection_pool.disconnect(inuse_connections=True)

    async def __aenter__(self) -> APIGateway:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    # --- internals ------------------------------------------------------------------------
    async def lookup_missing(self, service: str) -> Pool | None:
        """A service this process does not know may have been registered on another one: reload (rate-limited)."""
        pool = None
        if self.shared is not None and self._clock() - self._last_miss_reload > _MISS_RELOAD_INTERVAL:
            self._last_miss_reload = self._clock()
            await self._shared_call(self.shared.load())
            pool = self.registry.get(service)
        return pool

    async def _shared_call(self, call: Any) -> None:
        try:
            await call
        except (RedisError, OSError) as exc:
            log.error("shared registry: Redis unreachable (%s); the change is local to this process", exc)

    def _share(self, make_call: Callable[[SharedState], Any]) -> None:
        """Write a change made through the sync API to Redis, if the gateway is already running."""
        if self.shared is None:
            return  # pushed at start-up
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        task = loop.create_task(self._shared_call(make_call(self.shared)))
        self._tasks.append(task)

    def _breaker_changed(self, instance: str, state: BreakerState, opened_until: float) -> None:
        self.metrics.breaker_transitions[(instance, state.value)] += 1
        if state is BreakerState.OPEN and self.shared is not None:
            self.shared.breaker_opened(instance, max(0.0, opened_until - self._clock()))

    def _count_backend_error(self) -> None:
        self.metrics.rate_limit_backend_errors += 1

    def _gauges(self) -> list[GaugeMetricFamily]:
        state = GaugeMetricFamily("gateway_circuit_breaker_open", "1 when the instance's breaker is open.",
                                  labels=["service", "instance", "state"])
        healthy = GaugeMetricFamily("gateway_instance_healthy", "1 when the last active health check passed.",
                                    labels=["service", "instance"])
        for inst in self.registry.instances():
            state.add_metric([inst.service, inst.name, inst.breaker.state.value],
                             0 if inst.breaker.state is BreakerState.CLOSED else 1)
            healthy.add_metric([inst.service, inst.name], 1 if inst.healthy else 0)
        return [state, healthy]


async def _stop_tasks(tasks: list[asyncio.Task[None]], wake: Callable[[], Awaitable[None]]) -> None:
    """Cancel ``tasks`` and wait for them; shutdown never hangs on one that does not end.

    redis-py can lose a cancellation (seen about once in ten Redis restarts: the shared-registry listener
    stayed "cancelling" inside ``PubSub.listen`` and ``aclose`` waited forever). So after a grace period
    ``wake`` closes the Redis connections those tasks wait on (the listener then sees a connection error,
    notices it is being cancelled and ends), and a task still running after that is left behind, logged."""
    for task in tasks:
        task.cancel()
    if not tasks:
        return
    _, pending = await asyncio.wait(tasks, timeout=_STOP_GRACE)
    if pending:
        log.warning("%s ignored cancellation; closing their Redis connections", sorted(t.get_name() for t in pending))
        await wake()
        for task in pending:
            task.cancel()
        _, pending = await asyncio.wait(pending, timeout=_STOP_GRACE)
        if pending:
            log.error("abandoning background tasks that would not stop: %s", sorted(t.get_name() for t in pending))


def _redis_client(url: str) -> aioredis.Redis:
    return aioredis.Redis.from_url(url, socket_connect_timeout=0.5, socket_timeout=1.0,
                                   health_check_interval=30)


class _GatewayApp:
    """The ASGI 3 entry: lifespan handling, lazy start-up, then the stage chain."""

    def __init__(self, gateway: APIGateway, chain: ASGIApp) -> None:
        self.gateway = gateway
        self.chain = chain

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            if not self.gateway._started:
                await self.gateway.start()
            await self.chain(scope, receive, send)
        elif kind == "lifespan":
            await self._lifespan(receive, send)
        elif kind == "websocket":
            await send({"type": "websocket.close", "code": 1003})

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    await self.gateway.start()
                except Exception as exc:
                    log.exception("gateway start-up failed")
                    await send({"type": "lifespan.startup.failed", "message": str(exc)})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.gateway.aclose()
                await send({"type": "lifespan.shutdown.complete"})
                return
