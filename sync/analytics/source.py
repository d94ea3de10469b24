"""Inventory data as frames, read through :class:`InventoryClient` and kept briefly in a :class:`TTLCache`.

The client (``sync.clients.inventory``, shared with the ML service) is synchronous; each call runs in a
worker thread (``run_in_threadpool``), so the reads a snapshot needs still go out at once.

A *snapshot* is what the KPI endpoints need: SKUs, current levels and every ledger row since the
window's start (rows after ``as_of`` roll the levels back). Requests with the same window and the
same (or no) ``as_of`` within the cache TTL share one read of the inventory service.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime

import pandas as pd
from starlette.concurrency import run_in_threadpool

from sync.analytics.cache import TTLCache
from sync.analytics.classification import last_full_weeks, weekly_matrix
from sync.analytics.frames import demand_frame, levels_frame, movements_frame, skus_frame
from sync.analytics.kpis import sku_kpis, window_bounds
from sync.clients.inventory import InventoryClient


@dataclass(frozen=True)
class Snapshot:
    skus: pd.DataFrame
    levels: pd.DataFrame
    movements: pd.DataFrame
    as_of: pd.Timestamp
    window_days: int


@dataclass(frozen=True)
class DemandSnapshot:
    skus: pd.DataFrame
    weekly: pd.DataFrame  # SKU x week (period ends), zeros filled
    as_of: pd.Timestamp


def to_utc(moment: datetime | None) -> pd.Timestamp:
    """``moment`` as a UTC timestamp (naive means UTC); ``None`` means now."""
    stamp = pd.Timestamp(moment if moment is not None else datetime.now(UTC))
    return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")


class InventorySource:
    def __init__(self, client: InventoryClient, cache: TTLCache) -> None:
        self.client = client
        self.cache = cache

    async def catalog(self) -> tuple[pd.DataFrame, pd.DataFrame]:
        """SKUs and current levels."""
        async def load() -> tuple[pd.DataFrame, pd.DataFrame]:
            skus, levels = await asyncio.gather(run_in_threadpool(self.client.skus),
                                               run_in_threadpool(self.client.levels))
            return skus_frame(skus), levels_frame(levels)
        result: tuple[pd.DataFrame, pd.DataFrame] = await self.cache.get_or_load(("catalog",), load)
        return result

    async def snapshot(self, *, window_days: int, as_of: datetime | None) -> Snapshot:
        key = ("snapshot", window_days, to_utc(as_of) if as_of is not None else None)

        async def load() -> Snapshot:
            moment = to_utc(as_of)
            start, _ = window_bounds(moment, window_days)
            (skus, levels), moves = await asyncio.gather(
                self.catalog(), run_in_threadpool(self.client.movements, since=start.isoformat()))
            return Snapshot(skus, levels, movements_frame(moves), moment, window_days)

        result: Snapshot = await self.cache.get_or_load(key, load)
        return result

    async def kpis(self, *, window_days: int, as_of: datetime | None,
                   slow_days: float = 180.0) -> tuple[Snapshot, pd.DataFrame]:
        """The snapshot and its per-SKU KPI table (computed off the event loop, cached with it)."""
        key = ("kpis", window_days, to_utc(as_of) if as_of is not None else None, slow_days)

        async def load() -> tuple[Snapshot, pd.DataFrame]:
            snap = await self.snapshot(window_days=window_days, as_of=as_of)
            table = await run_in_threadpool(sku_kpis, snap.skus, snap.levels, snap.movements, as_of=snap.as_of,
                                            window_days=window_days, slow_days=slow_days)
            return snap, table

        result: tuple[Snapshot, pd.DataFrame] = await self.cache.get_or_load(key, load)
        return result

    async def demand(self, *, weeks: int, as_of: datetime | None) -> DemandSnapshot:
        key = ("demand", weeks, to_utc(as_of) if as_of is not None else None)

        async def load() -> DemandSnapshot:
            moment = to_utc(as_of)
            calendar = last_full_weeks(moment, weeks)
            start = (calendar[0] - pd.Timedelta(days=6)).date().isoformat()
            end = calendar[-1].date().isoformat()
            (skus, _), rows = await asyncio.gather(
                self.catalog(), run_in_threadpool(self.client.demand_history, start=start, end=end))
            weekly = weekly_matrix(demand_frame(rows), pd.Index(skus["sku"], name="sku"), calendar)
            return DemandSnapshot(skus, weekly, moment)

        result: DemandSnapshot = await self.cache.get_or_load(key, load)
        return result
