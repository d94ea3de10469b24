"""GET /kpis: per-SKU KPIs over a window, filterable and sortable."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query
from starlette.concurrency import run_in_threadpool

from sync.analytics.deps import AsOf, Limit, Offset, SlowDays, SourceDep, WindowDays
from sync.analytics.kpis import window_bounds
from sync.analytics.schemas import ERROR_RESPONSES, MovementClass, SkuKpis
from sync.analytics.serialize import records
from sync.settings import csv_list

router = APIRouter(tags=["kpis"], responses=ERROR_RESPONSES)

SortKey = Literal["sku", "stock_value", "turnover", "days_of_supply", "demand", "cogs", "in_stock_share"]
DESCENDING = {"stock_value", "turnover", "demand", "cogs"}


@router.get("/kpis", response_model=SkuKpis)
async def kpis(
    source: SourceDep,
    window_days: WindowDays = 90,
    as_of: AsOf = None,
    slow_days: SlowDays = 180.0,
    sku: Annotated[str | None, Query(description="Comma-separated SKU codes to keep.")] = None,
    movement_class: Annotated[MovementClass | None, Query(description="Keep only this class.")] = None,
    sort: Annotated[SortKey, Query(description="Sort key; values large first, days of supply small first.")] = "sku",
    limit: Limit = 100,
    offset: Offset = 0,
) -> SkuKpis:
    """One row per SKU: stock, value, demand, turnover, days of supply, in-stock share, flags."""
    snap, table = await source.kpis(window_days=window_days, as_of=as_of, slow_days=slow_days)

    def compute() -> SkuKpis:
        rows = table  # the cached table is shared: filter into new frames, never in place
        if sku:
            rows = rows.loc[rows["sku"].isin(csv_list(sku))]
        if movement_class:
            rows = rows.loc[rows["movement_class"] == movement_class]
        rows = rows.sort_values([sort, "sku"], ascending=[sort not in DESCENDING, True], na_position="last",
                                kind="stable")
        start, end = window_bounds(snap.as_of, window_days)
        page = rows.iloc[offset:offset + limit]
        return SkuKpis(as_of=end, window_days=window_days, window_start=start, slow_days=slow_days,
                       total=len(rows), items=records(page))

    return await run_in_threadpool(compute)
