"""``/reconciliation``, ``/demand-history`` and ``/events`` (the outbox)."""

from __future__ import annotations

import re
from datetime import date
from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse
from pydantic import BeforeValidator

from sync.inventory import events, reports
from sync.inventory.deps import Limit, State, read

router = APIRouter(tags=["reports"])
MAX_EVENT_ID = 2**63 - 1  # BIGINT
#: What pandas and both databases can hold, with room: 1900-01-01 .. 2199-12-31.
FIRST_DAY, LAST_DAY = date(1900, 1, 1), date(2199, 12, 31)


def _iso_date(value: object) -> object:
    """Only ``YYYY-MM-DD``: pydantic would otherwise read ``0`` or ``1700000000`` as Unix time."""
    if not isinstance(value, str) or not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value.strip()):
        raise ValueError("must be a date written YYYY-MM-DD")
    return value.strip()


Day = Annotated[date | None, BeforeValidator(lambda v: v if v is None else _iso_date(v)),
                Query(ge=FIRST_DAY, le=LAST_DAY, description="YYYY-MM-DD, from 1900-01-01 to 2199-12-31")]


@router.get("/reconciliation", summary="Cached levels against ledger sums; empty drift when all is well")
async def reconciliation(state: State) -> JSONResponse:
    return await read(reports.reconciliation, state.engine)


@router.get("/demand-history", summary="Units shipped net of returns per SKU and period, zeros included")
async def demand_history(state: State, sku: str | None = None, freq: str = "W", start: Day = None,
                         end: Day = None) -> JSONResponse:
    return await read(reports.demand_history, state.engine, state.catalog, sku=sku, freq=freq, start=start, end=end)


@router.get("/events", summary="Outbox events after a position, in commit order")
async def list_events(state: State, after: Annotated[int, Query(ge=0, le=MAX_EVENT_ID)] = 0,
                      limit: Limit = 100) -> JSONResponse:
    return await read(events.read_events, state.engine, after, limit)
