"""Rows to the JSON shapes of docs/CONTRACTS.md (dicts of JSON-ready values)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any


def iso(value: datetime | str | None) -> str | None:
    """ISO 8601 in UTC; SQLite hands back naive datetimes, which we stored as UTC."""
    if value is None:
        return None
    if isinstance(value, str):
        if value.endswith("Z"):  # already in this form (a plan's stamp)
            return value
        value = datetime.fromisoformat(value)
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def num(value: Decimal | float | None) -> float | None:
    return None if value is None else float(value)


def sku_out(row: Any) -> dict[str, Any]:
    return {
        "code": row.code, "name": row.name, "unit": row.unit, "unit_cost": num(row.unit_cost),
        "price": num(row.price), "reorder_point": row.reorder_point, "min_qty": row.min_qty,
        "max_qty": row.max_qty, "supplier": row.supplier, "lead_time_days": row.lead_time_days,
        "order_up_to": row.order_up_to, "ordering_cost": num(row.ordering_cost), "policy": row.policy,
        "created_at": iso(row.created_at),
    }


def location_out(row: Any) -> dict[str, Any]:
    return {"code": row.code, "name": row.name, "allow_negative": bool(row.allow_negative)}


def level_out(sku: str, location: str, on_hand: int, reserved: int, incoming: int,
              updated_at: datetime | str | None) -> dict[str, Any]:
    return {"sku": sku, "location": location, "on_hand": int(on_hand), "reserved": int(reserved),
            "available": int(on_hand) - int(reserved), "incoming": int(incoming), "updated_at": iso(updated_at)}


def movement_out(*, id: int, type: str, sku: str, location: str, quantity: int, on_hand_after: int,
                 reason: str | None, reference: str | None, actor: str | None,
                 created_at: datetime | str) -> dict[str, Any]:
    return {"id": int(id), "type": type, "sku": sku, "location": location, "quantity": int(quantity),
            "on_hand_after": int(on_hand_after), "reason": reason, "reference": reference, "actor": actor,
            "created_at": iso(created_at)}


def reservation_out(row: Any, sku: str, location: str) -> dict[str, Any]:
    return {"id": row.id, "sku": sku, "location": location, "quantity": int(row.quantity),
            "status": row.status, "reference": row.reference, "movement_id": row.movement_id,
            "expires_at": iso(row.expires_at), "created_at": iso(row.created_at),
            "closed_at": iso(row.closed_at)}
