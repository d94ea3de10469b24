"""Sticky sessions: a request's affinity key (a header or a cookie) chooses its instance.

The choice is weighted rendezvous hashing (highest random weight): every instance gets a score from
``hash(key, instance name)`` and its weight, and the key goes to the best-scoring instance that is
healthy and admitted by its breaker, else to the next in that order. An instance that leaves (or is
unhealthy, or its breaker open) only moves the keys it held; every other key keeps its instance, and a
key comes back to its instance when that instance can serve again. Requests without the key are
balanced as usual (smooth WRR).
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sync.gateway.balancer import Instance

_SCALE = float(1 << 64)
MAX_KEY = 512  # bytes of the header or cookie value that count; longer values are cut


@dataclass(frozen=True)
class Affinity:
    """Where a service's affinity key comes from: ``kind`` is ``header`` or ``cookie``."""

    kind: str
    name: str

    def __post_init__(self) -> None:
        if self.kind not in ("header", "cookie"):
            raise ValueError(f"affinity kind must be 'header' or 'cookie', got {self.kind!r}")
        if not self.name or any(c in self.name for c in " \t;=,\r\n:"):
            raise ValueError(f"affinity {self.kind} name {self.name!r} is not a valid name")

    @classmethod
    def parse(cls, spec: str) -> Affinity:
        """``header:X-Session-Id`` or ``cookie:session``."""
        kind, sep, name = spec.strip().partition(":")
        if not sep:
            raise ValueError(f"affinity {spec!r} is not header:NAME or cookie:NAME")
        return cls(kind.strip().lower(), name.strip())

    def describe(self) -> str:
        return f"{self.kind}:{self.name}"

    def key(self, headers: Sequence[tuple[bytes, bytes]]) -> bytes | None:
        """The request's affinity key, or None when it carries none (then it is balanced as usual)."""
        wanted = self.name.lower().encode("latin-1")
        if self.kind == "header":
            for name, value in headers:
                if name.lower() == wanted:
                    value = value.strip()
                    return value[:MAX_KEY] if value else None
            return None
        for name, value in headers:
            if name.lower() != b"cookie":
                continue
            for part in value.split(b";"):
                cname, sep, cvalue = part.partition(b"=")
                if sep and cname.strip().lower() == wanted:
                    cvalue = cvalue.strip().strip(b'"')
                    return cvalue[:MAX_KEY] if cvalue else None
        return None


def _score(key: bytes, inst: Instance) -> float:
    digest = hashlib.blake2b(key + b"\x00" + inst.name.encode(), digest_size=8).digest()
    unit = (int.from_bytes(digest, "big") + 1) / (_SCALE + 1)  # in (0, 1)
    return -inst.endpoint.weight / math.log(unit)


def rendezvous_order(key: bytes, instances: Sequence[Instance]) -> list[Instance]:
    """``instances`` best-first for ``key`` (weighted rendezvous hashing)."""
    if len(instances) <= 1:
        return list(instances)
    return sorted(instances, key=lambda inst: _score(key, inst), reverse=True)
