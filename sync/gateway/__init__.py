"""The API gateway: one entry point with routing, load balancing, health, breakers, limits and JWT."""

from sync.gateway.gateway import APIGateway
from sync.gateway.models import RateLimit, ServiceEndpoint

__all__ = ["APIGateway", "RateLimit", "ServiceEndpoint"]
