"""The seed's import path: ``from sync.api_gateway import APIGateway, ServiceEndpoint, RateLimit``."""

from sync.gateway.gateway import APIGateway
from sync.gateway.models import RateLimit, ServiceEndpoint

__all__ = ["APIGateway", "RateLimit", "ServiceEndpoint"]
