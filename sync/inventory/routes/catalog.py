"""``/skus`` and ``/locations``."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from sync.inventory import catalog, reads
from sync.inventory.deps import Code, IdempotencyKey, Limit, State, post, read
from sync.inventory.schemas import LocationIn, SkuIn

router = APIRouter(tags=["catalog"])


@router.post("/skus", status_code=201, summary="Create a SKU")
async def create_sku(body: SkuIn, request: Request, state: State, key: IdempotencyKey = None) -> JSONResponse:
    return await post(request, state, key, body, 201, lambda conn: catalog.create_sku(conn, body))


@router.get("/skus", summary="List SKUs (by code)")
async def list_skus(state: State, limit: Limit = 100, cursor: str | None = None) -> JSONResponse:
    return await read(reads.list_skus, state.engine, limit, cursor)


@router.get("/skus/{code}", summary="One SKU")
async def get_sku(state: State, code: Code) -> JSONResponse:
    return await read(reads.get_sku, state.engine, code)


@router.post("/locations", status_code=201, summary="Create a location")
async def create_location(body: LocationIn, request: Request, state: State,
                          key: IdempotencyKey = None) -> JSONResponse:
    return await post(request, state, key, body, 201, lambda conn: catalog.create_location(conn, body))


@router.get("/locations", summary="List locations (by code)")
async def list_locations(state: State, limit: Limit = 100, cursor: str | None = None) -> JSONResponse:
    return await read(reads.list_locations, state.engine, limit, cursor)
