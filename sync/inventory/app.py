"""The inventory service's app factory: migrations and demo data at start-up, the expiry sweeper."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from sync.errors import UpstreamUnavailable
from sync.inventory import demo, idempotency, migrate, reservations
from sync.inventory.catalog import Catalog
from sync.inventory.db import make_engine
from sync.inventory.deps import ServiceState
from sync.inventory.routes import catalog, imports, purchasing, reports, stock
from sync.inventory.routes import reservations as reservation_routes
from sync.inventory.store import open_store
from sync.settings import Settings
from sync.web import create_service_app

log = logging.getLogger("sync.inventory")
SWEEP_INTERVAL_S = 1.0
PRUNE_EVERY_SWEEPS = 3600


async def _sweeper(state: ServiceState) -> None:
    """Release expired reservations every second; forget day-old idempotency keys every hour."""
    sweeps = 0
    while True:
        try:
            released = await run_in_threadpool(reservations.expire_due, state.engine, state.catalog)
            if released:
                log.info("released %d expired reservations", released)
            if sweeps % PRUNE_EVERY_SWEEPS == 0:
                await run_in_threadpool(idempotency.prune, state.engine)
        except UpstreamUnavailable:  # already logged in one line (db.unavailable); try again next time
            pass
        except Exception:  # keep sweeping; the database may be back next time
            log.exception("reservation expiry sweep failed")
        sweeps += 1
        await asyncio.sleep(SWEEP_INTERVAL_S)


def _start(settings: Settings) -> ServiceState:
    engine = make_engine(settings.DATABASE_URL)
    migrate.upgrade(engine)
    if settings.DEMO_DATA:
        loaded = demo.load_if_empty(engine)
        if loaded:
            log.info("demo data loaded: %s", loaded)
    catalog = Catalog(engine)
    return ServiceState(engine, catalog, open_store(engine, catalog))


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the inventory service. Start-up migrates the database and, on an empty one, loads the demo."""
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        state = await run_in_threadpool(_start, settings)
        app.state.inventory = state
        sweeper = asyncio.create_task(_sweeper(state))
        try:
            yield
        finally:
            sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sweeper
            await state.store.close()

    app = create_service_app(
        title="Inventory service", settings=settings, lifespan=lifespan,
        description="SKUs, locations, cached stock levels over an append-only movement ledger, reservations.",
        # the upload route checks its own (decompressed) limit; the raw body may be as large
        body_limit_overrides={"/imports": max(settings.INVENTORY_IMPORT_MAX_BYTES, settings.MAX_REQUEST_BYTES)},
    )
    for module in (catalog, stock, reservation_routes, reports, imports, purchasing):
        app.include_router(module.router)

    @app.get("/health", tags=["health"], summary="Service and database health")
    async def health() -> JSONResponse:
        """Pings the database through the store, on the same connection pools its writes use."""
        state: ServiceState = app.state.inventory
        database: dict[str, Any] = {"status": "ok", "dialect": state.engine.dialect.name}
        try:
            await state.store.ping()
        except Exception as exc:
            database = {"status": "down", "dialect": state.engine.dialect.name, "error": type(exc).__name__}
        body = {"status": "ok" if database["status"] == "ok" else "degraded", "service": "inventory",
                "version": app.version, "dependencies": {"database": database}}
        return JSONResponse(body, status_code=200 if database["status"] == "ok" else 503)

    return app
