"""The SPEC's validation split of products: decide on the tuning half, confirm on the other.

A product is in the tuning half when the last hex digit of ``sha256(("tune-" + StockCode).encode())``
is even, otherwise in the confirmation half. Fixed by the SPEC, so figures compare across sessions.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

import numpy as np
import numpy.typing as npt

HALVES = ("tuning", "confirmation")


def in_tuning_half(sku: object) -> bool:
    """Whether ``sku`` (a StockCode) belongs to the tuning half."""
    return int(hashlib.sha256(("tune-" + str(sku)).encode()).hexdigest()[-1], 16) % 2 == 0


def tuning_mask(skus: Iterable[object]) -> npt.NDArray[np.bool_]:
    """Boolean mask, True for SKUs of the tuning half (the rest form the confirmation half)."""
    return np.array([in_tuning_half(s) for s in skus], dtype=bool)
