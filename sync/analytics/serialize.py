"""DataFrame rows to JSON-ready dicts: NaN becomes null, timestamps stay timestamps."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd


def records(df: pd.DataFrame) -> list[dict[str, Any]]:
    """``df`` as a list of dicts with Python scalars and ``None`` for missing values."""
    if df.empty:
        return []
    clean = df.astype(object).where(df.notna(), None)
    out: list[dict[str, Any]] = clean.to_dict("records")
    for row in out:
        for key, value in row.items():
            if isinstance(value, np.generic):
                row[key] = value.item()
            elif isinstance(value, float) and not np.isfinite(value):
                row[key] = None
    return out
