"""Which instances each service has. In memory here; :mod:`shared` mirrors it through Redis.

An instance registered with a TTL (a service registering itself, ``POST /services/{name}?ttl=30``) must
register again (its heartbeat) before the TTL runs out, or :meth:`Registry.expired` reports it and the
gateway drops it. Instances registered without a TTL (``GATEWAY_SERVICES``, ``add_service``) never expire.
Per-service policies (sticky sessions, fallbacks) live here too, so they apply to instances added later.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from sync.gateway.affinity import Affinity
from sync.gateway.balancer import Instance, Pool
from sync.gateway.breaker import Listener
from sync.gateway.models import ServiceEndpoint

# First path segments the gateway answers itself; no service may take them.
RESERVED = frozenset({"", "health", "services", "rate-limits", "metrics", "openapi.json", "docs", "redoc", "ui",
                      "debug"})
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,62}$")


def check_service_name(name: str) -> str:
    if name in RESERVED:
        raise ValueError(f"service name {name!r} is reserved for the gateway's own routes")
    if not _NAME.match(name):
        raise ValueError("service name must be 1-63 letters, digits, '-' or '_', starting with a letter or digit")
    return name


@dataclass(frozen=True)
class ServicePolicy:
    """Per-service options: sticky sessions and the fallback's maximum age (None: the setting's default)."""

    affinity: Affinity | None = None
    fallback_max_age: float | None = None

    def to_dict(self) -> dict[str, object]:
        return {"affinity": self.affinity.describe() if self.affinity else None,
                "fallback_max_age": self.fallback_max_age}

    @classmethod
    def from_dict(cls, data: dict[str, object]) -> ServicePolicy:
        affinity = data.get("affinity")
        age = data.get("fallback_max_age")
        return cls(Affinity.parse(str(affinity)) if affinity else None,
                   None if age is None else float(age))  # type: ignore[arg-type]


class Registry:
    def __init__(self, clock: Callable[[], float], listener: Listener | None = None) -> None:
        self.pools: dict[str, Pool] = {}
        self.policies: dict[str, ServicePolicy] = {}
        self._clock = clock
        self._listener = listener

    def set_policy(self, service: str, policy: ServicePolicy) -> None:
        check_service_name(service)
        self.policies[service] = policy
        pool = self.pools.get(service)
        if pool is not None:
            pool.affinity = policy.affinity

    def policy(self, service: str) -> ServicePolicy | None:
        return self.policies.get(service)

    def add(self, service: str, endpoint: ServiceEndpoint, ttl: float | None = None,
            remaining: float | None = None) -> Instance:
        """Register (or update, or renew) one instance of ``service``; raises ValueError for a bad name.

        With ``ttl`` the registration expires ``ttl`` seconds from now unless renewed; an instance
        already registered without a TTL stays that way (static instances never expire). Without
        ``ttl`` the instance is static from now on.
        """
        check_service_name(service)
        for other in self.pools.values():
            for inst in other.instances:
                if inst.name == endpoint.name and other.service != service:
                    raise ValueError(f"instance name {endpoint.name!r} is already used by service {other.service!r}")
        pool = self.pools.get(service)
        if pool is None:
            pool = self.pools[service] = Pool(service)
            policy = self.policies.get(service)
            pool.affinity = policy.affinity if policy else None
        previous = next((i for i in pool.instances if i.name == endpoint.name), None)
        instance = Instance(service, endpoint, self._clock, self._listener)
        pool.upsert(instance)
        current = next(i for i in pool.instances if i.name == endpoint.name)
        static = previous is not None and previous.ttl is None
        if ttl is None or static:
            current.ttl = current.expires = None
        else:
            current.ttl = ttl
            current.expires = self._clock() + (ttl if remaining is None else remaining)
        return current

    def remove(self, service: str, name: str) -> Instance | None:
        """Deregister one instance; None when ``service`` has no instance ``name``."""
        pool = self.pools.get(service)
        return pool.remove(name) if pool is not None else None

    def expired(self, now: float | None = None) -> list[Instance]:
        """Instances whose TTL ran out without a renewal."""
        now = self._clock() if now is None else now
        return [inst for inst in self.instances() if inst.expires is not None and inst.expires <= now]

    def get(self, service: str) -> Pool | None:
        return self.pools.get(service)

    def instances(self) -> list[Instance]:
        return [inst for pool in self.pools.values() for inst in pool.instances]

    def find_instance(self, name: str) -> Instance | None:
        for inst in self.instances():
            if inst.name == name:
                return inst
        return None

    def describe(self) -> dict[str, object]:
        return {
            service: {
                "instances": [inst.describe() for inst in pool.instances],
                "healthy_instances": sum(1 for i in pool.instances if i.healthy and i.breaker.available()),
            }
            for service, pool in sorted(self.pools.items())
        }
