"""``/movements`` (the ledger) and ``/levels`` (the cached stock levels)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from sync.inventory import reads
from sync.inventory.deps import Actor, IdempotencyKey, Limit, State, post_write, read
from sync.inventory.idempotency import KeySlot
from sync.inventory.schemas import MovementIn

router = APIRouter(tags=["stock"])


@router.post("/movements", status_code=201, summary="Record a stock movement",
             responses={409: {"description": "Not enough stock available (nothing was written)"}})
async def create_movement(body: MovementIn, request: Request, state: State, key: IdempotencyKey = None,
                          actor: Actor = None) -> JSONResponse:
    async def write(slot: KeySlot | None) -> dict[str, Any]:
        return await state.store.apply(await state.store.plan(body, actor or "api"), slot)

    return await post_write(request, state, key, lambda: body.model_dump(mode="json"), 201, write)


@router.get("/movements", summary="The ledger, oldest first, cursor-paginated")
async def list_movements(state: State, sku: str | None = None, location: str | None = None,
                         type: str | None = None, since: datetime | None = None, until: datetime | None = None,
                         limit: Limit = 100, cursor: str | None = None) -> JSONResponse:
    return await read(reads.list_movements, state.engine, state.catalog, sku=sku, location=location, type_=type,
                      since=since, until=until, limit=limit, cursor=cursor)


@router.get("/levels", summary="Cached stock levels (one row read, whatever the ledger size)")
async def list_levels(state: State, sku: str | None = None, location: str | None = None, limit: Limit = 100,
                      cursor: str | None = None) -> JSONResponse:
    return await read(reads.list_levels, state.engine, state.catalog, sku=sku, location=location, limit=limit,
                      cursor=cursor)
