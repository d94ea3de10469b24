"""Library results as plain JSON: numpy scalars to Python numbers, NaN and infinities to null, timestamps to
ISO strings (full, or the date alone for per-period figures)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd


def jsonable(value: Any, *, dates: bool = False) -> Any:
    """``value`` with every nested dict, list and tuple converted; ``dates``: timestamps as ``YYYY-MM-DD``."""
    if isinstance(value, dict):
        return {str(k): jsonable(v, dates=dates) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v, dates=dates) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, pd.Timestamp):
        return value.date().isoformat() if dates else value.isoformat()
    return value


def json_object(value: dict[str, Any], *, dates: bool = False) -> dict[str, Any]:
    """``jsonable`` of a JSON object (a route's answer), typed as the object it is."""
    converted: dict[str, Any] = jsonable(value, dates=dates)
    return converted
