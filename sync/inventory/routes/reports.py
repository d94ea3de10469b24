"""``/reconciliation``, ``/demand-history`` and ``/events`` (the outbox)."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from sync.inventory import events, reports
from sync.inventory.deps import State

router = APIRouter(tags=["reports"])


@router.get("/reconciliation", summary="Cached levels against ledger sums; empty drift when all is well")
async def reconciliation(state: State) -> JSONResponse:
    return JSONResponse(await run_in_threadpool(reports.reconciliation, state.engine))


@router.get("/demand-history", summary="Units shipped net of returns per SKU and period, zeros included")
async def demand_history(state: State, sku: str | None = None, freq: str = "W", start: date | None = None,
                         end: date | None = None) -> JSONResponse:
    result = await run_in_threadpool(
        lambda: reports.demand_history(state.engine, state.catalog, sku=sku, freq=freq, start=start, end=end))
    return JSONResponse(result)


@router.get("/events", summary="Outbox events after a position, in commit order")
async def list_events(state: State, after: Annotated[int, Query(ge=0)] = 0,
                      limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> JSONResponse:
    return JSONResponse(await run_in_threadpool(events.read_events, state.engine, after, limit))
