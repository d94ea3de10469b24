"""GET /stock-value: current stock value by location."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter
from starlette.concurrency import run_in_threadpool

from sync.analytics.deps import SourceDep
from sync.analytics.finite import total
from sync.analytics.kpis import stock_value_by_location
from sync.analytics.schemas import ERROR_RESPONSES, StockValue
from sync.analytics.serialize import records

router = APIRouter(tags=["stock value"], responses=ERROR_RESPONSES)


@router.get("/stock-value", response_model=StockValue)
async def stock_value(source: SourceDep) -> StockValue:
    """Units and value at cost and at price per location, largest value first."""
    skus, levels = await source.catalog()

    def compute() -> StockValue:
        table = stock_value_by_location(skus, levels)
        return StockValue(as_of=datetime.now(UTC),
                          total_stock_value_at_cost=total(table["stock_value_at_cost"]),
                          total_stock_value_at_price=total(table["stock_value_at_price"]),
                          items=records(table))

    return await run_in_threadpool(compute)
