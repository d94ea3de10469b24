"""GET /metrics: the inventory KPI summary (the seed's `GET /analytics/metrics`)."""

from __future__ import annotations

import pandas as pd
from fastapi import APIRouter
from starlette.concurrency import run_in_threadpool

from sync.analytics.deps import AsOf, SlowDays, SourceDep, WindowDays
from sync.analytics.kpis import summarize, window_bounds
from sync.analytics.schemas import ERROR_RESPONSES, Metrics

router = APIRouter(tags=["metrics"], responses=ERROR_RESPONSES)


@router.get("/metrics", response_model=Metrics)
async def metrics(source: SourceDep, window_days: WindowDays = 90, as_of: AsOf = None,
                  slow_days: SlowDays = 180.0) -> Metrics:
    """Stock, value, stockouts, reorder needs, turnover, days of supply and dead/slow stock."""
    snap, kpis = await source.kpis(window_days=window_days, as_of=as_of, slow_days=slow_days)

    def compute() -> Metrics:
        start, end = window_bounds(snap.as_of, window_days)
        last = snap.levels["updated_at"].max()
        return Metrics(as_of=end, window_days=window_days, window_start=start, fill_rate=None,
                       slow_days=slow_days, last_activity_at=None if pd.isna(last) else last,
                       **summarize(kpis, window_days=window_days))

    return await run_in_threadpool(compute)
