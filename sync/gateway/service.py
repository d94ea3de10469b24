"""`create_gateway`: the gateway that `inventory-system up` serves on GATEWAY_PORT."""

from __future__ import annotations

from sync.gateway.affinity import Affinity
from sync.gateway.gateway import APIGateway
from sync.gateway.models import ServiceEndpoint
from sync.gateway.registry import ServicePolicy
from sync.settings import Settings, csv_list
from sync.web.admin_token import with_admin_token


def parse_services(spec: str) -> list[tuple[str, str]]:
    """``"name=url,name=url"`` -> pairs; a name may repeat (several instances of one service)."""
    pairs = []
    for item in csv_list(spec):
        name, sep, url = item.partition("=")
        if not sep or not name.strip() or not url.strip():
            raise ValueError(f"GATEWAY_SERVICES: {item!r} is not name=url")
        pairs.append((name.strip(), url.strip().rstrip("/")))
    return pairs


def create_gateway(settings: Settings | None = None) -> APIGateway:
    """An :class:`APIGateway` configured from settings, with the instances of ``GATEWAY_SERVICES``.

    Its admin routes take the services' admin token: ``ADMIN_TOKEN``, else the per-install one in
    ``var/admin-token`` (created if missing), which ``inventory-system up`` hands its heartbeat too.
    """
    settings = with_admin_token(settings or Settings())
    gateway = APIGateway(settings=settings)
    counts: dict[str, int] = {}
    for name, url in parse_services(settings.GATEWAY_SERVICES):
        counts[name] = counts.get(name, 0) + 1
        gateway.add_service(name, ServiceEndpoint(
            name=f"{name}-{counts[name]}", url=url, health_check_url=url + "/health",
            timeout=settings.GATEWAY_TIMEOUT, circuit_breaker_threshold=settings.CIRCUIT_BREAKER_THRESHOLD,
            circuit_breaker_timeout=settings.CIRCUIT_BREAKER_TIMEOUT))
    for name, spec in parse_affinity(settings.GATEWAY_AFFINITY):
        gateway.registry.set_policy(name, ServicePolicy(affinity=spec))
    gateway.debug_mode = settings.GATEWAY_DEBUG
    return gateway


def parse_affinity(spec: str) -> list[tuple[str, Affinity]]:
    """``"inventory=header:X-Session-Id,ml=cookie:session"`` -> pairs (ValueError naming the setting)."""
    pairs = []
    for item in csv_list(spec):
        name, sep, rule = item.partition("=")
        try:
            if not sep or not name.strip():
                raise ValueError("not service=header:NAME or service=cookie:NAME")
            pairs.append((name.strip(), Affinity.parse(rule)))
        except ValueError as exc:
            raise ValueError(f"GATEWAY_AFFINITY: {item!r}: {exc}") from exc
    return pairs
