"""A plan put to work in the inventory service, over its HTTP API: planned levels and draft purchase orders.

- SKUs whose ``policy`` is ``"planner"`` get the plan's ``reorder_point`` and ``order_up_to``
  (``PATCH /skus/{code}``, recorded in the SKU's change log with the actor ``planner:<plan id>``); SKUs
  whose levels are set by hand keep them.
- The proposals become draft purchase orders, one per supplier and location, each line carrying its
  reason (the figures behind it). A SKU without a registered supplier goes on an order to the supplier
  ``UNASSIGNED`` (created when first needed), so no proposal is lost; the planner moves it.
- Drafts left by earlier plans are cancelled first: the drafts on screen are always the latest plan's.
  Orders a person created (no plan id) and orders already approved are never touched.
- Each create carries an ``Idempotency-Key`` made of the plan id, supplier and location, so a retried
  run does not order twice.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from typing import Any

from sync.clients.inventory import InventoryClient

UNASSIGNED = "UNASSIGNED"
SUPPLIER_CODE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._\-]{0,63}$")  # the inventory service's code rule


def _home_location(levels: Iterable[Mapping[str, Any]]) -> dict[str, str]:
    """Each SKU's location with the most on hand (ties: the first by code): where its orders are delivered."""
    best: dict[str, tuple[float, str]] = {}
    for level in sorted(levels, key=lambda lv: str(lv["location"])):
        sku, on_hand = str(level["sku"]), float(level.get("on_hand") or 0)
        if sku not in best or on_hand > best[sku][0]:
            best[sku] = (on_hand, str(level["location"]))
    return {sku: loc for sku, (_, loc) in best.items()}


def apply_plan(inv: InventoryClient, *, plan_id: str, plan_rows: list[dict[str, Any]],
               proposals: list[dict[str, Any]], skus: Mapping[str, Mapping[str, Any]],
               levels: list[dict[str, Any]]) -> dict[str, Any]:
    """Write the plan's levels for planner-policy SKUs and replace earlier plans' drafts with this plan's.

    The calls go through ``inv`` (``sync.clients.inventory``), which translates their failures."""
    actor = {"X-Actor": f"planner:{plan_id}"}
    updated = []
    for row in plan_rows:
        code = str(row["sku"])
        if (skus.get(code) or {}).get("policy") != "planner":
            continue
        s, big_s = math.ceil(float(row["reorder_point"])), math.ceil(float(row["order_up_to"]))
        inv.request("PATCH", f"/skus/{code}", sku=code, headers=actor,
                    json={"reorder_point": max(s, 0), "order_up_to": max(big_s, s, 0)})
        updated.append(code)

    cancelled = []
    for order in inv.purchase_orders(status="draft"):
        if order.get("plan_id") and order["plan_id"] != plan_id:
            inv.request("POST", f"/purchase-orders/{order['id']}/cancel", ok=(200, 409))
            cancelled.append(order["id"])

    home = _home_location(levels)
    known = {str(s["code"]) for s in inv.suppliers()}
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    skipped = []
    for line in proposals:
        code = str(line["sku"])
        location = home.get(code)
        if location is None:  # never stocked anywhere: no place to deliver to
            skipped.append({"sku": code, "reason": "the SKU has no stock level at any location"})
            continue
        supplier = str(line.get("supplier") or "")
        if not SUPPLIER_CODE.match(supplier):  # none, or free text that is no supplier code
            supplier = UNASSIGNED
        if supplier not in known:
            name = "No supplier set (planner)" if supplier == UNASSIGNED else supplier
            inv.request("POST", "/suppliers", ok=(201, 409), json={"code": supplier, "name": name})
            known.add(supplier)
        groups.setdefault((supplier, location), []).append(line)

    created = []
    for (supplier, location), lines in sorted(groups.items()):
        order_lines: list[dict[str, Any]] = [
            {"sku": str(ln["sku"]), "quantity": int(ln["quantity"]),
             "reason": {k: ln[k] for k in ("position", "reorder_point", "order_up_to", "risk_period_demand",
                                           "fill_rate_without_order", "reason") if k in ln}}
            for ln in lines]
        for out_line in order_lines:
            unit_cost = (skus.get(out_line["sku"]) or {}).get("unit_cost")
            if unit_cost:
                out_line["unit_cost"] = unit_cost
        body = {"supplier": supplier, "location": location, "plan_id": plan_id, "reference": f"plan {plan_id}",
                "lines": order_lines}
        resp = inv.request("POST", "/purchase-orders", json=body,
                           headers=actor | {"Idempotency-Key": f"plan-{plan_id}-{supplier}-{location}"[:255]})
        created.append({"id": resp.json()["id"], "supplier": supplier, "location": location,
                        "lines": len(lines)})
    return {"levels_updated": len(updated), "skus_updated": updated[:1000], "orders_created": created,
            "drafts_cancelled": cancelled, "skipped": skipped}
