"""Read weekly demand history from the inventory service (``GET {INVENTORY_URL}/demand-history``).

The ML service forecasts from it when a ``/forecast`` or ``/backtest`` request brings no history, so
forecasts follow the stock ledger without the caller exporting anything. Failures are translated at
this one boundary: unreachable or failing inventory -> ``UpstreamUnavailable`` (503).
"""

from __future__ import annotations

import httpx
import pandas as pd

from sync.errors import UpstreamUnavailable, ValidationFailed


def demand_history(base_url: str, *, sku: str | None = None, timeout: float = 30.0) -> pd.DataFrame:
    """Long frame ``sku``, ``date``, ``quantity`` (weeks ending Sunday, zeros included, negatives as 0) and,
    when the inventory reports it, ``orders`` (distinct orders per week, a forecasting signal)."""
    params = {"freq": "W"} | ({"sku": sku} if sku else {})
    url = base_url.rstrip("/") + "/demand-history"
    try:
        resp = httpx.get(url, params=params, timeout=timeout)
    except httpx.HTTPError as exc:
        raise UpstreamUnavailable(f"inventory service at {base_url} is unreachable: {exc}",
                                  details={"url": url}) from exc
    if resp.status_code == 404 and sku:
        raise ValidationFailed(f"inventory has no SKU {sku!r}", details={"field": "sku"})
    if resp.status_code != 200:
        raise UpstreamUnavailable(f"inventory service answered {resp.status_code} for demand history",
                                  details={"url": url, "status": resp.status_code})
    try:
        items = resp.json()["items"]
        columns = ["sku", "date", "quantity"] + (["orders"] if items and "orders" in items[0] else [])
        frame = pd.DataFrame(items, columns=columns)
        frame["date"] = pd.to_datetime(frame["date"])
        # net of returns a week can be negative; demand cannot: such weeks count as no demand
        frame["quantity"] = frame["quantity"].astype(float).clip(lower=0.0)
    except (ValueError, KeyError, TypeError) as exc:
        raise UpstreamUnavailable("inventory service sent demand history in an unexpected shape") from exc
    if frame.empty:
        raise ValidationFailed("inventory has no demand history yet" + (f" for {sku!r}" if sku else ""),
                               details={"field": "history"})
    return frame
