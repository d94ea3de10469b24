"""The latest replenishment plan, read from the ML service (``GET /plan/latest``), for the reorder alerts.

A plan gives, per SKU, the reorder point and order-up-to level of the replenishment policy and the forecast
demand per period. The alerts use them in place of what the inventory holds and of a trailing average:

- reorder point and order-up-to: the plan's for SKUs whose ``policy`` is ``"planner"`` (the planning run has
  also written them to the SKU); a SKU whose levels are set by hand keeps its own reorder point;
- daily demand: the plan's forecast for every SKU it covers; the window's average otherwise.

Each alert says where each figure came from. No plan (none made yet, or the ML service unreachable) leaves
the alerts as they were, and says so.
"""

from __future__ import annotations

import logging
from typing import Any

import httpx
import numpy as np
import pandas as pd

log = logging.getLogger("sync.analytics")
TIMEOUT = httpx.Timeout(3.0)
PERIOD_DAYS = {"W": 7.0, "D": 1.0}


class PlanClient:
    """Reads the ML service's latest plan; never raises: an unavailable plan is ``None``."""

    def __init__(self, base_url: str, *, transport: httpx.AsyncBaseTransport | None = None) -> None:
        self._client = httpx.AsyncClient(base_url=base_url.rstrip("/"), timeout=TIMEOUT, transport=transport)

    async def aclose(self) -> None:
        await self._client.aclose()

    async def latest(self) -> dict[str, Any] | None:
        try:
            resp = await self._client.get("/plan/latest")
        except httpx.HTTPError as exc:
            log.info("no plan for the reorder alerts: the ML service is unreachable (%s)", type(exc).__name__)
            return None
        if resp.status_code != 200:
            return None
        try:
            body = resp.json()
            return body if isinstance(body, dict) and isinstance(body.get("items"), list) else None
        except ValueError:
            return None


def _period_days(freq: str) -> float:
    return PERIOD_DAYS.get(freq[:1].upper(), 7.0)


def with_plan(kpis: pd.DataFrame, skus: pd.DataFrame, plan: dict[str, Any] | None,
              window_days: int) -> pd.DataFrame:
    """``kpis`` with reorder point, order-up-to and daily demand taken from ``plan`` where it applies, the
    ``below_reorder_point`` flag recomputed, and the source of each figure in ``*_source`` columns."""
    out = kpis.copy()
    average = f"{window_days}-day average of shipments"
    out["plan_id"] = None
    out["order_up_to_planned"] = np.nan
    out["demand_source"] = average
    policy = skus.set_index("sku")["policy"].reindex(out["sku"]).fillna("manual").to_numpy() \
        if "policy" in skus.columns else np.full(len(out), "manual")
    out["reorder_point_source"] = np.where(policy == "planner", "sku (policy planner, no plan yet)",
                                           "sku (set by hand)")
    if plan and plan.get("items"):
        rows = pd.DataFrame(plan["items"])
        needed = {"sku", "reorder_point", "order_up_to", "demand_per_period"}
        if needed <= set(rows.columns):
            rows = rows.assign(sku=rows["sku"].astype(str)).drop_duplicates("sku").set_index("sku")
            days = _period_days(str(plan.get("freq") or "W"))
            label = f"plan {plan.get('plan_id')} of {plan.get('planned_at')}"
            planned = out["sku"].isin(rows.index).to_numpy()
            by_plan = planned & (policy == "planner")
            index = out["sku"][planned]
            out.loc[planned, "plan_id"] = plan.get("plan_id")
            out.loc[planned, "daily_demand"] = (rows.loc[index, "demand_per_period"].astype(float) / days).to_numpy()
            out.loc[planned, "demand_source"] = f"forecast ({label})"
            mine = out["sku"][by_plan]
            out.loc[by_plan, "reorder_point"] = np.ceil(rows.loc[mine, "reorder_point"].astype(float)).to_numpy()
            out.loc[by_plan, "order_up_to_planned"] = np.ceil(rows.loc[mine, "order_up_to"].astype(float)).to_numpy()
            out.loc[by_plan, "reorder_point_source"] = label
    daily = out["daily_demand"].astype(float)
    on_hand = out["on_hand"].astype(float).clip(lower=0.0)
    out["days_of_supply"] = np.where(daily > 0, on_hand / daily.where(daily > 0, 1.0), np.nan)
    out["below_reorder_point"] = out["reorder_point"].notna() & (out["position"] <= out["reorder_point"])
    return out
