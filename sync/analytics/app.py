"""The analytics service's app factory (port 8005): KPIs and classification from the inventory service."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from sync import __version__
from sync.analytics.cache import TTLCache
from sync.analytics.plan import PlanClient
from sync.analytics.routes import ROUTERS
from sync.analytics.source import InventorySource
from sync.clients.inventory import InventoryClient
from sync.settings import Settings
from sync.web import create_service_app

DESCRIPTION = (
    "Inventory KPIs (stock value, stockouts, turnover, days of supply, dead and slow stock), ABC/XYZ "
    "classification and reorder alerts, computed from the inventory service's HTTP API. "
    "Definitions: docs/analytics.md."
)


#: Seconds inventory data read for one request is reused by the next ones (a burst of /metrics calls
#: reads the ledger once). Short enough that nobody acts on stale stock.
CACHE_TTL_SECONDS = 5.0


def create_app(settings: Settings | None = None, *, cache_ttl: float = CACHE_TTL_SECONDS) -> FastAPI:
    """Build the app; the inventory client is opened and closed with the app's lifespan.

    ``cache_ttl`` (seconds, 0 turns the cache off) is for tests that change stock between calls.
    """
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        client = InventoryClient.from_settings(settings)
        app.state.source = InventorySource(client, TTLCache(cache_ttl))
        app.state.plans = PlanClient(settings.ML_URL)
        try:
            yield
        finally:
            client.close()
            await app.state.plans.aclose()

    app = create_service_app(title="Analytics service", settings=settings, version=__version__,
                             lifespan=lifespan, description=DESCRIPTION)
    for router in ROUTERS:
        app.include_router(router)
    return app
