"""``/movements`` (the ledger) and ``/levels`` (the cached stock levels)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from sync.inventory import reads
from sync.inventory.deps import Actor, IdempotencyKey, State, post
from sync.inventory.ledger import apply_movement
from sync.inventory.schemas import MovementIn

router = APIRouter(tags=["stock"])
Limit = Annotated[int, Query(ge=1, le=1000)]


@router.post("/movements", status_code=201, summary="Record a stock movement",
             responses={409: {"description": "Not enough stock available (nothing was written)"}})
async def create_movement(body: MovementIn, request: Request, state: State, key: IdempotencyKey = None,
                          actor: Actor = None) -> JSONResponse:
    if key is None and body.type != "transfer" and state.fast is not None:
        done = await state.fast.try_movement(state.catalog, body, actor or "api")
        if done is not None:
            return JSONResponse(done, status_code=201)
    return await post(request, state, key, body, 201,
                      lambda conn: apply_movement(conn, state.catalog, body, actor or "api"))


@router.get("/movements", summary="The ledger, oldest first, cursor-paginated")
async def list_movements(state: State, sku: str | None = None, location: str | None = None,
                         type: str | None = None, since: datetime | None = None, until: datetime | None = None,
                         limit: Limit = 100, cursor: str | None = None) -> JSONResponse:
    page = await run_in_threadpool(
        lambda: reads.list_movements(state.engine, state.catalog, sku=sku, location=location, type_=type,
                                     since=since, until=until, limit=limit, cursor=cursor))
    return JSONResponse(page)


@router.get("/levels", summary="Cached stock levels (one row read, whatever the ledger size)")
async def list_levels(state: State, sku: str | None = None, location: str | None = None, limit: Limit = 100,
                      cursor: str | None = None) -> JSONResponse:
    page = await run_in_threadpool(
        lambda: reads.list_levels(state.engine, state.catalog, sku=sku, location=location, limit=limit,
                                  cursor=cursor))
    return JSONResponse(page)
