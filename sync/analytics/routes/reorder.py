"""GET /reorder-alerts: SKUs at or below their reorder point, with a suggested order quantity."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from starlette.concurrency import run_in_threadpool

from sync.analytics.deps import Limit, Offset, SourceDep, WindowDays
from sync.analytics.finite import total
from sync.analytics.kpis import window_bounds
from sync.analytics.plan import with_plan
from sync.analytics.reorder import reorder_alerts
from sync.analytics.schemas import ERROR_RESPONSES, ReorderAlerts
from sync.analytics.serialize import records

router = APIRouter(tags=["reorder"], responses=ERROR_RESPONSES)


@router.get("/reorder-alerts", response_model=ReorderAlerts)
async def alerts(
    request: Request,
    source: SourceDep,
    window_days: WindowDays = 90,
    cover_days: Annotated[float, Query(ge=0, le=3650, description="Days of demand an order should cover "
                                       "beyond the reorder point (when the SKU has no max_qty).")] = 30.0,
    limit: Limit = 1000,
    offset: Offset = 0,
) -> ReorderAlerts:
    """Always as of now. With a replenishment plan (the ML service's latest), its reorder points, order-up-to
    levels and forecast apply (``sync/analytics/plan.py``); without one, daily demand is the average of the
    last ``window_days``. Each alert names the source of its figures."""
    snap, table = await source.kpis(window_days=window_days, as_of=None)
    plan = await request.app.state.plans.latest()

    def compute() -> ReorderAlerts:
        found = reorder_alerts(with_plan(table, snap.skus, plan, window_days), cover_days=cover_days)
        start, end = window_bounds(snap.as_of, window_days)
        return ReorderAlerts(as_of=end, window_days=window_days, window_start=start, cover_days=cover_days,
                             total=len(found), total_order_value=total(found["order_value"]),
                             items=records(found.iloc[offset:offset + limit]))

    return await run_in_threadpool(compute)
