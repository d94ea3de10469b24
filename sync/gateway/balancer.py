"""Instances of one service and smooth weighted round-robin over the ones that may take traffic.

The algorithm is nginx's smooth WRR: each pick adds every candidate's weight to its running score,
takes the highest, and subtracts the total from it. Weights hold over every window of ``sum(weights)``
picks, not just on average, and a heavy instance's turns are spread out instead of bunched.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from sync.gateway.affinity import Affinity, rendezvous_order
from sync.gateway.breaker import CircuitBreaker, Listener
from sync.gateway.models import ServiceEndpoint

STARTING, HEALTHY, UNHEALTHY = "starting", "healthy", "unhealthy"


class Instance:
    """A registered endpoint with its live state: health, breaker, WRR score, timeout.

    ``health_state`` is ``starting`` until a health check first passes, then ``healthy`` or ``unhealthy``
    after each check. ``healthy`` says whether it may take traffic: true at registration (optimistic,
    so a fresh gateway serves at once), then what the last check said. A starting instance whose first
    check or first request failed is not ready: no traffic, and no breaker involved, until a check passes.
    """

    __slots__ = ("base", "breaker", "current", "endpoint", "expires", "health_state", "healthy",
                 "last_health_error", "next_check", "service", "ttl")

    def __init__(self, service: str, endpoint: ServiceEndpoint, clock: Callable[[], float],
                 listener: Listener | None = None) -> None:
        self.service = service
        self.endpoint = endpoint
        self.base = endpoint.url
        self.healthy = True  # optimistic until the first active check says otherwise
        self.health_state = STARTING
        self.next_check = 0.0  # time.monotonic() of the next active check: due at once
        self.last_health_error: str | None = None
        self.current = 0
        self.ttl: float | None = None  # None: registered statically, never expires
        self.expires: float | None = None  # clock time after which an unrenewed registration is dropped
        self.breaker = CircuitBreaker(endpoint.name, endpoint.circuit_breaker_threshold,
                                      float(endpoint.circuit_breaker_timeout), clock, listener)

    @property
    def name(self) -> str:
        return self.endpoint.name

    @property
    def starting(self) -> bool:
        """Has no health check passed yet?"""
        return self.health_state == STARTING

    def not_ready(self, reason: str) -> None:
        """A starting instance failed real traffic: out of rotation until a health check passes."""
        self.healthy = False
        self.last_health_error = reason
        self.next_check = 0.0

    def describe(self) -> dict[str, object]:
        return {**self.endpoint.to_dict(), "healthy": self.healthy, "health": self.health_state,
                "circuit_breaker": self.breaker.state.value,
                "consecutive_failures": self.breaker.failures, "last_health_error": self.last_health_error,
                "ttl": self.ttl}


class Pool:
    """All instances of one service."""

    def __init__(self, service: str) -> None:
        self.service = service
        self.instances: list[Instance] = []
        self.affinity: Affinity | None = None  # sticky sessions: the request's key picks by rendezvous hashing

    def upsert(self, instance: Instance) -> None:
        """Add an instance, or replace the one with the same name (keeping nothing of its old state)."""
        for i, existing in enumerate(self.instances):
            if existing.name == instance.name:
                if existing.endpoint == instance.endpoint:
                    return
                self.instances[i] = instance
                return
        self.instances.append(instance)

    def remove(self, name: str) -> Instance | None:
        for i, existing in enumerate(self.instances):
            if existing.name == name:
                return self.instances.pop(i)
        return None

    def pick(self, exclude: Iterable[Instance] = (), key: bytes | None = None) -> Instance | None:
        """The next instance by smooth WRR among healthy ones whose breaker admits a request.

        With an affinity ``key`` (sticky sessions) the instance is the first in the key's rendezvous
        order that is healthy and admitted by its breaker, so a key stays put until its instance leaves.
        The chosen instance's breaker is acquired (so a half-open breaker sends one probe only); the
        caller must report the outcome to it.
        """
        skip = set(map(id, exclude)) if exclude else ()
        candidates = [i for i in self.instances
                      if i.healthy and id(i) not in skip and i.breaker.available()]
        if key is not None:
            for inst in rendezvous_order(key, candidates):
                if inst.breaker.acquire():
                    return inst
            return None
        while candidates:
            total = 0
            best: Instance | None = None
            for inst in candidates:
                weight = inst.endpoint.weight
                inst.current += weight
                total += weight
                if best is None or inst.current > best.current:
                    best = inst
            assert best is not None
            best.current -= total
            if best.breaker.acquire():
                return best
            candidates.remove(best)
        return None

    def retry_after(self) -> float:
        """Seconds until some instance could take traffic again (for a 503's Retry-After)."""
        waits = [i.breaker.retry_after() for i in self.instances if i.healthy]
        return min(waits) if waits else 0.0
