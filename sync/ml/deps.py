"""What the ML service's routes take from the running app: its models, settings and inventory client."""

from __future__ import annotations

from typing import TYPE_CHECKING

from fastapi import Request

from sync.clients.inventory import InventoryClient
from sync.errors import UpstreamUnavailable
from sync.settings import Settings

if TYPE_CHECKING:
    from sync.ml.intelligence import MLInventoryIntelligence


def settings_of(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def inventory_of(request: Request) -> InventoryClient:
    """The app's one inventory client (opened and closed with the app's lifespan, ``sync.ml.service``)."""
    inventory: InventoryClient | None = getattr(request.app.state, "inventory", None)
    if inventory is None:
        raise UpstreamUnavailable("the ML service is still starting")
    return inventory


def ml_of(request: Request) -> MLInventoryIntelligence:
    """The app's models (set by the lifespan once they are loaded or trained); 503 until then."""
    ml: MLInventoryIntelligence | None = getattr(request.app.state, "ml", None)
    if ml is None:
        raise UpstreamUnavailable("the ML service is still starting")
    return ml
