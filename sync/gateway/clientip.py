"""Who the client is: the peer address, or the X-Forwarded-For entry a trusted proxy vouches for.

X-Forwarded-For is believed only when the direct peer is in ``GATEWAY_TRUSTED_PROXIES``; then the
chain is walked from the right, skipping trusted hops, and the first untrusted address is the client.
A client behind an untrusted peer cannot pick its own rate-limit bucket by sending the header.
"""

from __future__ import annotations

import ipaddress
from functools import lru_cache

from sync.gateway.types import Scope

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_networks(spec: list[str]) -> tuple[Network, ...]:
    nets: list[Network] = []
    for item in spec:
        try:
            nets.append(ipaddress.ip_network(item, strict=False))
        except ValueError as exc:
            raise ValueError(f"GATEWAY_TRUSTED_PROXIES: {item!r} is not an IP address or CIDR") from exc
    return tuple(nets)


class ClientResolver:
    def __init__(self, trusted: tuple[Network, ...]) -> None:
        self.trusted = trusted
        self._is_trusted = lru_cache(maxsize=4096)(self._check)

    def _check(self, host: str) -> bool:
        try:
            addr = ipaddress.ip_address(host)
        except ValueError:
            return False
        return any(addr in net for net in self.trusted)

    def peer(self, scope: Scope) -> str:
        client = scope.get("client")
        return client[0] if client else "unknown"

    def peer_is_trusted(self, scope: Scope) -> bool:
        return bool(self.trusted) and self._is_trusted(self.peer(scope))

    def client(self, scope: Scope, forwarded_for: bytes | None) -> str:
        """The address rate limits and logs attribute the request to."""
        peer = self.peer(scope)
        if not forwarded_for or not self.trusted or not self._is_trusted(peer):
            return peer
        hops = [h.strip() for h in forwarded_for.decode("latin-1").split(",") if h.strip()]
        for hop in reversed(hops):
            if not self._is_trusted(hop):
                return hop
        return hops[0] if hops else peer
