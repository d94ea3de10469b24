"""Lead-time training rows from the purchase orders the inventory service records.

``lead_time_prediction`` starts on synthetic rows (the bundled sample has no supplier data, see
``sync/ml/bootstrap.py``). Once the inventory service holds at least ``ML_LEAD_TIME_MIN_ORDERS``
orders received in full, :func:`refresh_lead_time_model` retrains it on those orders only, and the
model's metadata says which rows it learnt from (``training_data_source``). One row per order received
in full (``GET /purchase-orders?status=received``), taken in the order they were sent:

* ``lead_time`` (target): days from ``sent_at`` to ``closed_at`` (the last receipt), as the inventory
  service's ``observed_lead_time`` counts them;
* ``order_quantity``: the order's units (sum of its lines);
* ``supplier_performance``: the supplier's on-time share (``closed_at`` on or before ``expected_at``)
  over its orders received before this one was sent, smoothed as (on time + 1) / (orders + 2): only
  the past, so the row's own lead time never leaks into its feature;
* ``supply_chain_health``: no order records it; the proxy is the same smoothed on-time share over all
  suppliers' orders received in the HEALTH_WINDOW_DAYS days before this one was sent;
* ``seasonality``: sin(2π · ISO week of ``sent_at`` / 52), as for the demand rows.

Callers predicting for a new order pass the same figures as of now (:func:`current_features`).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import pandas as pd

from sync.clients.inventory import InventoryClient
from sync.ml.builtins import LEAD_TIME_FEATURES

log = logging.getLogger("sync.ml")
HEALTH_WINDOW_DAYS = 90
SYNTHETIC_SOURCE = "synthetic start-up rows"
MODEL = "lead_time_prediction"




def received_orders(inventory: InventoryClient) -> list[dict[str, Any]]:
    """Orders received in full, as the inventory service lists them."""
    return inventory.purchase_orders(status="received")


def _time(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def _on_time(order: dict[str, Any]) -> bool:
    expected = order.get("expected_at")
    return expected is None or _time(order["closed_at"]).date().isoformat() <= str(expected)[:10]


def _share(on_time: int, total: int) -> float:
    return (on_time + 1) / (total + 2)


def _features(history: Sequence[dict[str, Any]], supplier: str, at: datetime) -> tuple[float, float]:
    """(supplier_performance, supply_chain_health) from the orders closed before ``at``."""
    before = [o for o in history if o["_closed"] <= at]
    own = [o for o in before if o["supplier"] == supplier]
    recent = [o for o in before if o["_closed"] >= at - timedelta(days=HEALTH_WINDOW_DAYS)]
    return (_share(sum(o["_on_time"] for o in own), len(own)),
            _share(sum(o["_on_time"] for o in recent), len(recent)))


def _prepared(orders: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for order in orders:
        if order.get("status") != "received" or not order.get("sent_at") or not order.get("closed_at"):
            continue
        out.append(dict(order, _sent=_time(order["sent_at"]), _closed=_time(order["closed_at"]),
                        _on_time=_on_time(order)))
    return sorted(out, key=lambda o: (o["_sent"], o["id"]))


def _seasonality(at: datetime) -> float:
    return math.sin(2 * math.pi * at.isocalendar().week / 52)


def order_rows(orders: Sequence[dict[str, Any]]) -> pd.DataFrame:
    """One training row per order received in full (columns: the model's features and ``lead_time``)."""
    prepared = _prepared(orders)
    rows = []
    for order in prepared:
        performance, health = _features(prepared, order["supplier"], order["_sent"])
        rows.append({"supplier_performance": performance,
                     "order_quantity": float(sum(int(line["quantity"]) for line in order.get("lines") or [])),
                     "supply_chain_health": health, "seasonality": _seasonality(order["_sent"]),
                     "lead_time": (order["_closed"] - order["_sent"]).total_seconds() / 86400})
    return pd.DataFrame(rows, columns=[*LEAD_TIME_FEATURES, "lead_time"])


def current_features(orders: Sequence[dict[str, Any]], supplier: str, order_quantity: float,
                     at: datetime) -> dict[str, float]:
    """The model's features for an order of ``supplier`` sent at ``at`` (same definitions as training)."""
    performance, health = _features(_prepared(orders), supplier, at)
    return {"supplier_performance": performance, "order_quantity": float(order_quantity),
            "supply_chain_health": health, "seasonality": _seasonality(at)}


def refresh_lead_time_model(ml: Any, inventory: InventoryClient, *, min_orders: int) -> dict[str, Any]:
    """Retrain ``lead_time_prediction`` on the received orders when there are at least ``min_orders``.

    Below that the served model (synthetic start-up rows, or an earlier order-trained version) stays.
    The new version is trained aside and swapped in by ``train_model``; a failure leaves the old one.
    """
    rows = order_rows(received_orders(inventory))
    served = ml.served(MODEL)
    current = served.metadata.get("training_data_source") if served is not None else None
    out: dict[str, Any] = {"model_name": MODEL, "orders": len(rows), "min_orders": min_orders}
    if len(rows) < min_orders:
        return out | {"trained": False, "training_data_source": current or SYNTHETIC_SOURCE,
                      "reason": f"{len(rows)} orders received in full; {min_orders} needed"}
    source = f"purchase orders ({len(rows)})"
    if current == source:  # e.g. a restart replaying old po.received events: nothing new to learn
        return out | {"trained": False, "training_data_source": current,
                      "reason": f"the served version already learnt from these {len(rows)} orders"}
    previous = ml.training_data.get("lead_time")
    ml.training_data["lead_time"] = rows
    try:
        ml.train_model(MODEL, "lead_time", source=source)
    except BaseException:
        if previous is None:
            ml.training_data.pop("lead_time", None)
        else:
            ml.training_data["lead_time"] = previous
        raise
    fitted = ml.fitted(MODEL)
    log.info("retrained %s on %d received purchase orders (%s)", MODEL, len(rows), fitted.version_label)
    return out | {"trained": True, "training_data_source": source, "model_version": fitted.version_label,
                  "metrics": fitted.metadata["metrics"]}
