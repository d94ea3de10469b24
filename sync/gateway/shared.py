"""Registry, rate-limit rules and breaker openings shared through Redis between gateway processes.

Redis holds two hashes: ``gw:services`` (``service/instance`` -> endpoint JSON) and ``gw:ratelimits``
(pattern -> limit JSON). A change is written there, then announced on the ``gw:events`` channel; every
process listens and reloads. Reads that must be current (admin GETs, a request for an unknown service)
reload directly, so a second process never depends on the announcement's timing. A breaker that opens
is announced too, and the other processes open theirs for the same remaining time.

Redis may come back empty (restarted without persistence, or flushed). ``gw:epoch`` tells: the first
process to publish into an empty Redis sets it to a new random value, and every process remembers the
value it published under. A process that finds another value (or none) on reconnecting, or in its check
every ``check_every`` seconds, publishes everything it knows again (its registry and rules, which hold
what the others published too), so a gateway started afterwards still learns every instance and rule.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import uuid
from collections.abc import Callable

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from sync.gateway.models import RateLimit, ServiceEndpoint
from sync.gateway.ratelimit.rules import RuleTable
from sync.gateway.registry import Registry

log = logging.getLogger("sync.gateway.shared")

SERVICES = "gw:services"
RULES = "gw:ratelimits"
EVENTS = "gw:events"
EPOCH = "gw:epoch"


class SharedState:
    def __init__(self, client: aioredis.Redis, registry: Registry, rules: RuleTable,
                 clock: Callable[[], float], *, check_every: float = 1.0) -> None:
        self.client = client
        self.registry = registry
        self.rules = rules
        self._clock = clock
        self._origin = f"{os.getpid()}-{id(self)}"
        self.applying_remote = False
        self.subscribed = asyncio.Event()
        self.check_every = check_every
        self.epoch: bytes | None = None  # the gw:epoch value this process last published under
        self._down = False  # for logging Redis outages once, not on every retry
        self._tasks: set[asyncio.Task[None]] = set()

    async def push_local(self) -> None:
        """Write what this process was configured with (the seed's add_service/set_rate_limit calls)."""
        pipe = self.client.pipeline(transaction=True)
        pipe.set(EPOCH, uuid.uuid4().hex, nx=True)
        pipe.get(EPOCH)
        for pool in self.registry.pools.values():
            for inst in pool.instances:
                pipe.hset(SERVICES, f"{pool.service}/{inst.name}", json.dumps(inst.endpoint.to_dict()))
        for pattern, limit in self.rules.rules.items():
            pipe.hset(RULES, pattern, json.dumps(limit.to_dict()))
        pipe.publish(EVENTS, json.dumps({"kind": "changed", "origin": self._origin}))
        results = await pipe.execute()
        self.epoch = results[1]

    async def republish_if_reset(self) -> bool:
        """Publish everything again when Redis no longer holds the epoch this process published under."""
        current = await self.client.get(EPOCH)
        if current is not None and current == self.epoch:
            return False
        first = self.epoch is None
        await self.push_local()
        log.warning("shared registry: %s; published %d instances and %d rate-limit rules",
                    "first contact with Redis" if first else "Redis lost the shared state (restarted empty or flushed)",
                    len(self.registry.instances()), len(self.rules.rules))
        return True

    async def watch(self) -> None:
        """Every ``check_every`` seconds, until cancelled: republish if Redis came back empty."""
        while True:
            await asyncio.sleep(self.check_every)
            try:
                await self.republish_if_reset()
                self._up()
            except (RedisError, OSError) as exc:
                self._failed(exc)

    def _failed(self, exc: Exception) -> None:
        if not self._down:
            self._down = True
            log.warning("shared registry: Redis unreachable (%s); retrying quietly", exc)

    def _up(self) -> None:
        if self._down:
            self._down = False
            log.warning("shared registry: Redis reachable again")

    async def load(self) -> None:
        """Bring the local registry and rules up to what Redis holds."""
        services, rules = await asyncio.gather(self.client.hgetall(SERVICES), self.client.hgetall(RULES))
        for field, raw in services.items():
            service, _, _ = _text(field).partition("/")
            try:
                self.registry.add(service, ServiceEndpoint(**json.loads(raw)))
            except (ValueError, TypeError) as exc:
                log.error("ignoring bad shared registry entry %s: %s", _text(field), exc)
        table: dict[str, RateLimit] = {}
        for pattern, raw in rules.items():
            try:
                table[_text(pattern)] = RateLimit(**json.loads(raw))
            except (ValueError, TypeError) as exc:
                log.error("ignoring bad shared rate-limit rule %s: %s", _text(pattern), exc)
        merged = {**self.rules.rules, **table}
        self.rules.replace_all(merged)

    async def save_service(self, service: str, endpoint: ServiceEndpoint) -> None:
        await self.client.hset(SERVICES, f"{service}/{endpoint.name}", json.dumps(endpoint.to_dict()))
        await self._announce()

    async def save_rule(self, pattern: str, limit: RateLimit) -> None:
        await self.client.hset(RULES, pattern, json.dumps(limit.to_dict()))
        await self._announce()

    async def _announce(self) -> None:
        await self.client.publish(EVENTS, json.dumps({"kind": "changed", "origin": self._origin}))

    def breaker_opened(self, instance: str, seconds: float) -> None:
        """Called from a local breaker transition: tell the other processes (fire and forget)."""
        if self.applying_remote:
            return
        message = json.dumps({"kind": "breaker", "origin": self._origin, "instance": instance,
                              "seconds": seconds})
        task = asyncio.get_running_loop().create_task(self._publish(message))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _publish(self, message: str) -> None:
        try:
            await self.client.publish(EVENTS, message)
        except (RedisError, OSError) as exc:
            log.warning("could not share a breaker opening: %s", exc)

    async def listen(self) -> None:
        """Follow the events channel until cancelled, reconnecting after Redis outages."""
        while True:
            try:
                async with self.client.pubsub() as pubsub:
                    await pubsub.subscribe(EVENTS)
                    self.subscribed.set()
                    if self.epoch is not None:  # a reconnect: Redis may have restarted empty
                        await self.republish_if_reset()
                    await self.load()
                    self._up()
                    async for message in pubsub.listen():
                        if message.get("type") == "message":
                            await self._handle(message["data"])
            except (RedisError, OSError) as exc:
                self._failed(exc)
                await asyncio.sleep(1.0)

    async def _handle(self, data: bytes | str) -> None:
        try:
            event = json.loads(data)
        except ValueError:
            return
        if event.get("origin") == self._origin:
            return
        if event.get("kind") == "changed":
            await self.load()
        elif event.get("kind") == "breaker":
            inst = self.registry.find_instance(str(event.get("instance")))
            if inst is not None:
                self.applying_remote = True
                try:
                    inst.breaker.open_until(self._clock() + float(event.get("seconds", 0)))
                finally:
                    self.applying_remote = False

    async def aclose(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
