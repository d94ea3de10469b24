"""What the ML service's routes take from the running app: its settings and its inventory client."""

from __future__ import annotations

from fastapi import Request

from sync.clients.inventory import InventoryClient
from sync.errors import UpstreamUnavailable
from sync.settings import Settings


def settings_of(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def inventory_of(request: Request) -> InventoryClient:
    """The app's one inventory client (opened and closed with the app's lifespan, ``sync.ml.service``)."""
    inventory: InventoryClient | None = getattr(request.app.state, "inventory", None)
    if inventory is None:
        raise UpstreamUnavailable("the ML service is still starting")
    return inventory
