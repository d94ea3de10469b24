"""Small builders for the pure-function tests: contract-shaped items turned into the package's frames."""

from __future__ import annotations

from typing import Any

import pandas as pd

from sync.analytics.frames import levels_frame, movements_frame, skus_frame


def ts(day: int, month: int = 1, hour: int = 0) -> pd.Timestamp:
    return pd.Timestamp(2026, month, day, hour, tz="UTC")


def sku(code: str, unit_cost: float, **fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"code": code, "name": f"Item {code}", "unit": "ea", "unit_cost": unit_cost,
                            "price": unit_cost * 2, "reorder_point": None, "min_qty": None, "max_qty": None,
                            "supplier": "ACME", "lead_time_days": 7, "created_at": "2025-01-01T00:00:00Z"}
    base.update(fields)
    return base


def level(code: str, location: str, on_hand: float, reserved: float = 0.0, incoming: float = 0.0) -> dict[str, Any]:
    return {"sku": code, "location": location, "on_hand": on_hand, "reserved": reserved,
            "available": on_hand - reserved, "incoming": incoming, "updated_at": "2026-01-10T00:00:00Z"}


_ids = iter(range(1, 1_000_000))


def move(code: str, kind: str, quantity: float, when: pd.Timestamp, location: str = "L1") -> dict[str, Any]:
    return {"id": next(_ids), "type": kind, "sku": code, "location": location, "quantity": quantity,
            "on_hand_after": None, "reason": None, "reference": None, "actor": None,
            "created_at": when.isoformat()}


def frames(skus: list[dict[str, Any]], levels: list[dict[str, Any]],
           moves: list[dict[str, Any]]) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    return skus_frame(skus), levels_frame(levels), movements_frame(moves)
