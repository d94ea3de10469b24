"""Weekly demand history from the inventory service as the frame the ML service forecasts from.

The ML service forecasts from it when a ``/forecast``, ``/backtest``, ``/simulate`` or ``/plan`` request
brings no history, so forecasts follow the stock ledger without the caller exporting anything. The HTTP
call and its errors are :meth:`sync.clients.inventory.InventoryClient.demand_history`'s; this module only
shapes the rows.
"""

from __future__ import annotations

import pandas as pd

from sync.clients.inventory import InventoryClient, UpstreamContractError
from sync.errors import ValidationFailed


def demand_history(inventory: InventoryClient, *, sku: str | None = None) -> pd.DataFrame:
    """Long frame ``sku``, ``date``, ``quantity`` (weeks ending Sunday, zeros included, negatives as 0) and,
    when the inventory reports it, ``orders`` (distinct orders per week, a forecasting signal).

    An unknown ``sku`` is ``NotFound`` naming it; no history at all is ``ValidationFailed`` (422)."""
    items = inventory.demand_history(sku=sku)
    try:
        columns = ["sku", "date", "quantity"] + (["orders"] if items and "orders" in items[0] else [])
        frame = pd.DataFrame(items, columns=columns)
        frame["date"] = pd.to_datetime(frame["date"])
        # net of returns a week can be negative; demand cannot: such weeks count as no demand
        frame["quantity"] = frame["quantity"].astype(float).clip(lower=0.0)
    except (ValueError, KeyError, TypeError) as exc:
        raise UpstreamContractError("the inventory service sent demand history in an unexpected shape",
                                    details={"dependency": "inventory", "path": "/demand-history"}) from exc
    if frame.empty:
        raise ValidationFailed("inventory has no demand history yet" + (f" for {sku!r}" if sku else ""),
                               details={"field": "history"})
    return frame
