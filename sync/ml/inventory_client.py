"""Read weekly demand history from the inventory service (``GET {INVENTORY_URL}/demand-history``).

The ML service forecasts from it when a ``/forecast`` or ``/backtest`` request brings no history, so
forecasts follow the stock ledger without the caller exporting anything. Failures are translated at
this one boundary: an unknown SKU -> ``NotFound`` (404) naming it; unreachable or failing inventory ->
``UpstreamUnavailable`` (503). No error carries the inventory's address or its own error text (a
database message, say): those are logged for the operator.
"""

from __future__ import annotations

import logging
from typing import Any

import httpx
import pandas as pd

from sync.errors import NotFound, UpstreamUnavailable, ValidationFailed

log = logging.getLogger("sync.ml")


def _names_sku(resp: httpx.Response) -> bool:
    """Whether a 4xx answer is the inventory's "unknown SKU" (a 404, or a 422 whose details name ``sku``)."""
    if resp.status_code == 404:
        return True
    if resp.status_code != 422:
        return False
    try:
        details: Any = resp.json()["error"]["details"]
    except (ValueError, KeyError, TypeError):
        return False
    details = details if isinstance(details, list) else [details]
    return any(isinstance(d, dict) and d.get("field") == "sku" for d in details)


def demand_history(base_url: str, *, sku: str | None = None, timeout: float = 30.0) -> pd.DataFrame:
    """Long frame ``sku``, ``date``, ``quantity`` (weeks ending Sunday, zeros included, negatives as 0) and,
    when the inventory reports it, ``orders`` (distinct orders per week, a forecasting signal)."""
    params = {"freq": "W"} | ({"sku": sku} if sku else {})
    url = base_url.rstrip("/") + "/demand-history"
    try:
        resp = httpx.get(url, params=params, timeout=timeout)
    except httpx.HTTPError as exc:
        log.warning("inventory service at %s is unreachable: %s: %s", url, exc.__class__.__name__, exc)
        raise UpstreamUnavailable("the inventory service is unreachable, so there is no demand history to "
                                  "forecast from", details={"dependency": "inventory"}) from exc
    if sku and _names_sku(resp):
        raise NotFound(f"inventory has no SKU {sku!r}", details={"field": "sku", "sku": sku})
    if resp.status_code != 200:
        log.warning("inventory service at %s answered %s for demand history: %s", url, resp.status_code,
                    resp.text[:300])
        raise UpstreamUnavailable(f"the inventory service answered {resp.status_code} for demand history",
                                  details={"dependency": "inventory", "status": resp.status_code})
    try:
        items = resp.json()["items"]
        columns = ["sku", "date", "quantity"] + (["orders"] if items and "orders" in items[0] else [])
        frame = pd.DataFrame(items, columns=columns)
        frame["date"] = pd.to_datetime(frame["date"])
        # net of returns a week can be negative; demand cannot: such weeks count as no demand
        frame["quantity"] = frame["quantity"].astype(float).clip(lower=0.0)
    except (ValueError, KeyError, TypeError) as exc:
        log.warning("inventory service at %s sent demand history in an unexpected shape: %s", url, exc)
        raise UpstreamUnavailable("the inventory service sent demand history in an unexpected shape",
                                  details={"dependency": "inventory"}) from exc
    if frame.empty:
        raise ValidationFailed("inventory has no demand history yet" + (f" for {sku!r}" if sku else ""),
                               details={"field": "history"})
    return frame


PAGE = 1000
MAX_PAGES = 10_000


def list_items(base_url: str, path: str, params: dict[str, str] | None = None,
               timeout: float = 30.0) -> list[dict[str, Any]]:
    """Every item of one of the inventory's paginated lists (``{"items", "next_cursor"}``: ``/skus``,
    ``/levels``, ``/suppliers``, ``/purchase-orders``), following the cursor to the end."""
    url = base_url.rstrip("/") + path
    items: list[dict[str, Any]] = []
    cursor = None
    with httpx.Client(timeout=timeout) as client:
        for _ in range(MAX_PAGES):
            query = (params or {}) | {"limit": str(PAGE)} | ({"cursor": cursor} if cursor else {})
            try:
                resp = client.get(url, params=query)
            except httpx.HTTPError as exc:
                log.warning("inventory service at %s is unreachable: %s: %s", url, exc.__class__.__name__, exc)
                raise UpstreamUnavailable(f"the inventory service is unreachable (GET {path})",
                                          details={"dependency": "inventory", "path": path}) from exc
            if resp.status_code != 200:
                log.warning("inventory service at %s answered %s: %s", url, resp.status_code, resp.text[:300])
                raise UpstreamUnavailable(f"the inventory service answered {resp.status_code} for GET {path}",
                                          details={"dependency": "inventory", "path": path,
                                                   "status": resp.status_code})
            try:
                body = resp.json()
                items.extend(body["items"])
                cursor = body.get("next_cursor")
            except (ValueError, KeyError, TypeError) as exc:
                raise UpstreamUnavailable(f"the inventory service sent GET {path} in an unexpected shape",
                                          details={"dependency": "inventory", "path": path}) from exc
            if not cursor:
                return items
    raise UpstreamUnavailable(f"the inventory service's GET {path} did not end after {MAX_PAGES} pages",
                              details={"dependency": "inventory", "path": path})
