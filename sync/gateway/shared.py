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

Registrations with a TTL (services that register themselves and heartbeat) also hold a lease: the key
``gw:lease:service/instance`` with a Redis expiry, and their TTL in the hash ``gw:leases``. Every
process sets its local expiry from the lease's remaining time when it loads, and before dropping an
expired instance asks Redis whether another process saw a renewal (:meth:`SharedState.lease_left`); an
entry whose lease is gone is deleted from the hashes by a script that checks the lease atomically.
Deregistration deletes the entry and announces ``removed``. Per-service policies (sticky sessions,
fallback age) live in ``gw:policies``; debug mode switches are announced as ``debug`` events.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import uuid
from collections.abc import Callable
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from sync.gateway.balancer import Instance
from sync.gateway.models import RateLimit, ServiceEndpoint
from sync.gateway.ratelimit.rules import RuleTable
from sync.gateway.registry import Registry, ServicePolicy

log = logging.getLogger("sync.gateway.shared")

SERVICES = "gw:services"
RULES = "gw:ratelimits"
EVENTS = "gw:events"
EPOCH = "gw:epoch"
LEASES = "gw:leases"
LEASE = "gw:lease:"
POLICIES = "gw:policies"

# Delete a registration whose lease is gone; atomic, so a renewal racing with it is never undone.
_FORGET = """
if redis.call('exists', KEYS[1]) == 0 then
  redis.call('hdel', KEYS[2], ARGV[1])
  redis.call('hdel', KEYS[3], ARGV[1])
  return 1
end
return 0
"""


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
        self.on_debug: Callable[[bool], None] | None = None  # applies a debug switch made on another process

    def _write_instance(self, pipe: Any, service: str, inst: Instance) -> None:
        field = f"{service}/{inst.name}"
        if inst.ttl is None or inst.expires is None:
            pipe.hset(SERVICES, field, json.dumps(inst.endpoint.to_dict()))
            pipe.hdel(LEASES, field)
            pipe.delete(LEASE + field)
            return
        left_ms = int((inst.expires - self._clock()) * 1000)
        if left_ms <= 0:
            return
        pipe.hset(SERVICES, field, json.dumps(inst.endpoint.to_dict()))
        pipe.hset(LEASES, field, repr(float(inst.ttl)))
        pipe.set(LEASE + field, b"1", px=left_ms)

    async def push_local(self) -> None:
        """Write what this process was configured with (the seed's add_service/set_rate_limit calls)."""
        pipe = self.client.pipeline(transaction=True)
        pipe.set(EPOCH, uuid.uuid4().hex, nx=True)
        pipe.get(EPOCH)
        for pool in self.registry.pools.values():
            for inst in pool.instances:
                self._write_instance(pipe, pool.service, inst)
        for pattern, limit in self.rules.rules.items():
            pipe.hset(RULES, pattern, json.dumps(limit.to_dict()))
        for service, policy in self.registry.policies.items():
            pipe.hset(POLICIES, service, json.dumps(policy.to_dict()))
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
        """Count a Redis failure of a background loop, or end the loop if it is being cancelled.

        A cancellation that lands while redis-py waits under its socket timeout can come out as redis-py's
        TimeoutError (a RedisError) instead of CancelledError (``asyncio.timeout`` on Python 3.11 turns a
        cancel that races its deadline into a timeout). Retrying then would leave ``aclose`` waiting forever
        for a task that never ends, so a loop whose task is being cancelled stops here."""
        task = asyncio.current_task()
        if task is not None and task.cancelling():
            raise asyncio.CancelledError from exc
        if not self._down:
            self._down = True
            log.warning("shared registry: Redis unreachable (%s); retrying quietly", exc)

    def _up(self) -> None:
        if self._down:
            self._down = False
            log.warning("shared registry: Redis reachable again")

    async def load(self) -> None:
        """Bring the local registry and rules up to what Redis holds."""
        pipe = self.client.pipeline(transaction=True)
        for key in (SERVICES, RULES, LEASES, POLICIES):
            pipe.hgetall(key)
        services, rules, leases, policies = await pipe.execute()
        left: dict[str, int] = {}
        if leases:
            pipe = self.client.pipeline(transaction=False)
            fields = [_text(f) for f in leases]
            for field in fields:
                pipe.pttl(LEASE + field)
            left = dict(zip(fields, await pipe.execute(), strict=True))
        for service, raw in policies.items():
            try:
                self.registry.set_policy(_text(service), ServicePolicy.from_dict(json.loads(raw)))
            except (ValueError, TypeError) as exc:
                log.error("ignoring bad shared policy for %s: %s", _text(service), exc)
        for field_raw, raw in services.items():
            field = _text(field_raw)
            service, _, _ = field.partition("/")
            ttl: float | None = None
            remaining: float | None = None
            if field in left:
                if left[field] <= 0:  # the lease ran out: the instance stopped renewing
                    await self.client.eval(_FORGET, 3, LEASE + field, SERVICES, LEASES, field)
                    continue
                ttl, remaining = float(leases[field_raw]), left[field] / 1000.0
            try:
                self.registry.add(service, ServiceEndpoint(**json.loads(raw)), ttl, remaining)
            except (ValueError, TypeError) as exc:
                log.error("ignoring bad shared registry entry %s: %s", field, exc)
        table: dict[str, RateLimit] = {}
        for pattern, raw in rules.items():
            try:
                table[_text(pattern)] = RateLimit(**json.loads(raw))
            except (ValueError, TypeError) as exc:
                log.error("ignoring bad shared rate-limit rule %s: %s", _text(pattern), exc)
        merged = {**self.rules.rules, **table}
        self.rules.replace_all(merged)

    async def save_service(self, service: str, endpoint: ServiceEndpoint) -> None:
        """Write one instance as the local registry holds it (with its lease when it has a TTL)."""
        inst = self.registry.find_instance(endpoint.name)
        pipe = self.client.pipeline(transaction=True)
        if inst is not None and inst.service == service:
            self._write_instance(pipe, service, inst)
        else:
            pipe.hset(SERVICES, f"{service}/{endpoint.name}", json.dumps(endpoint.to_dict()))
        pipe.publish(EVENTS, json.dumps({"kind": "changed", "origin": self._origin}))
        await pipe.execute()

    async def remove_service(self, service: str, instance: str) -> None:
        field = f"{service}/{instance}"
        pipe = self.client.pipeline(transaction=True)
        pipe.hdel(SERVICES, field)
        pipe.hdel(LEASES, field)
        pipe.delete(LEASE + field)
        pipe.publish(EVENTS, json.dumps({"kind": "removed", "origin": self._origin, "service": service,
                                         "instance": instance}))
        await pipe.execute()

    async def lease_left(self, service: str, instance: str) -> float:
        """Seconds left of an instance's lease in Redis (0: gone, and its entry deleted)."""
        field = f"{service}/{instance}"
        left = await self.client.pttl(LEASE + field)
        if left > 0:
            return left / 1000.0
        await self.client.eval(_FORGET, 3, LEASE + field, SERVICES, LEASES, field)
        return 0.0

    async def save_policy(self, service: str, policy: ServicePolicy) -> None:
        await self.client.hset(POLICIES, service, json.dumps(policy.to_dict()))
        await self._announce()

    async def share_debug(self, enabled: bool) -> None:
        await self.client.publish(EVENTS, json.dumps({"kind": "debug", "origin": self._origin,
                                                      "enabled": bool(enabled)}))

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
        elif event.get("kind") == "removed":
            gone = self.registry.remove(str(event.get("service")), str(event.get("instance")))
            if gone is not None:
                log.info("instance %s of %s deregistered (on another gateway process)", gone.name, gone.service)
        elif event.get("kind") == "debug":
            if self.on_debug is not None:
                self.on_debug(bool(event.get("enabled")))
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
