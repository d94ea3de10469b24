"""Which instances each service has. In memory here; :mod:`shared` mirrors it through Redis."""

from __future__ import annotations

import re
from collections.abc import Callable

from sync.gateway.balancer import Instance, Pool
from sync.gateway.breaker import Listener
from sync.gateway.models import ServiceEndpoint

# First path segments the gateway answers itself; no service may take them.
RESERVED = frozenset({"", "health", "services", "rate-limits", "metrics", "openapi.json", "docs", "redoc", "ui"})
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,62}$")


def check_service_name(name: str) -> str:
    if name in RESERVED:
        raise ValueError(f"service name {name!r} is reserved for the gateway's own routes")
    if not _NAME.match(name):
        raise ValueError("service name must be 1-63 letters, digits, '-' or '_', starting with a letter or digit")
    return name


class Registry:
    def __init__(self, clock: Callable[[], float], listener: Listener | None = None) -> None:
        self.pools: dict[str, Pool] = {}
        self._clock = clock
        self._listener = listener

    def add(self, service: str, endpoint: ServiceEndpoint) -> Instance:
        """Register (or update) one instance of ``service``; raises ValueError for a bad name."""
        check_service_name(service)
        for pool in self.pools.values():
            for inst in pool.instances:
                if inst.name == endpoint.name and pool.service != service:
                    raise ValueError(f"instance name {endpoint.name!r} is already used by service {pool.service!r}")
        pool = self.pools.get(service)
        if pool is None:
            pool = self.pools[service] = Pool(service)
        instance = Instance(service, endpoint, self._clock, self._listener)
        pool.upsert(instance)
        return next(i for i in pool.instances if i.name == endpoint.name)

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
