"""``/movements`` (the ledger) and ``/levels`` (the cached stock levels)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from sync.inventory import idempotency, reads
from sync.inventory.deps import Actor, IdempotencyKey, ServiceState, State, post
from sync.inventory.ledger import apply_movement
from sync.inventory.schemas import MovementIn

router = APIRouter(tags=["stock"])
Limit = Annotated[int, Query(ge=1, le=1000)]


@router.post("/movements", status_code=201, summary="Record a stock movement",
             responses={409: {"description": "Not enough stock available (nothing was written)"}})
async def create_movement(body: MovementIn, request: Request, state: State, key: IdempotencyKey = None,
                          actor: Actor = None) -> JSONResponse:
    if body.type != "transfer" and state.fast is not None:
        answer = await _fast(request, state, body, key, actor or "api")
        if answer is not None:
            return answer
    return await post(request, state, key, body, 201,
                      lambda conn: apply_movement(conn, state.catalog, body, actor or "api"))


async def _fast(request: Request, state: ServiceState, body: MovementIn, key: str | None,
                actor: str) -> JSONResponse | None:
    """The PostgreSQL single-statement path (``fastpath.py``); None sends the request down the general path."""
    assert state.fast is not None
    key = idempotency.check_key(key)
    fp = idempotency.fingerprint(request.method, request.url.path, body.model_dump(mode="json")) if key else None
    if key is not None:
        row = await state.fast.stored(key)
        if row is not None:
            return _replayed(idempotency.replay(row, fp or "", key))
    try:
        done = await state.fast.try_movement(state.catalog, body, actor, key=key, fingerprint=fp)
    except idempotency.KeyTaken:
        assert key is not None
        return _replayed(idempotency.replay(await state.fast.stored(key), fp or "", key))
    return None if done is None else JSONResponse(done, status_code=201)


def _replayed(outcome: idempotency.Outcome) -> JSONResponse:
    return JSONResponse(outcome.body, status_code=outcome.status, headers={"Idempotent-Replayed": "true"})


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
