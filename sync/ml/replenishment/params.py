"""Checked planning parameters: each is a scalar or a mapping from SKU to value, turned into one array.

Every refusal is a ``ValidationFailed`` (a ``ValueError``, 422 over HTTP) whose message and
``details["field"]`` name the parameter.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from numbers import Real
from typing import Any

import numpy as np
import numpy.typing as npt

from sync.errors import ValidationFailed

Array = npt.NDArray[np.float64]
#: periods per year for the frequencies a plan is made at (EOQ needs annual demand)
PERIODS_PER_YEAR = {"W": 365.25 / 7, "D": 365.25, "M": 12.0, "MS": 12.0, "ME": 12.0, "Q": 4.0, "QS": 4.0}


def _number(value: Any, field: str) -> float:
    if isinstance(value, bool) or not isinstance(value, Real) or not math.isfinite(float(value)):
        raise ValidationFailed(f"{field} must be a finite number, got {value!r}", details={"field": field})
    return float(value)


def _check(value: float, field: str, rule: str) -> None:
    bad = {
        "unit": not 0.0 < value < 1.0,
        "nonnegative": value < 0.0,
        "positive": value <= 0.0,
    }[rule]
    if bad:
        wanted = {"unit": "in (0, 1)", "nonnegative": ">= 0", "positive": "> 0"}[rule]
        raise ValidationFailed(f"{field} must be {wanted}, got {value:g}", details={"field": field})


def per_sku(value: Any, skus: npt.NDArray[np.object_], field: str, rule: str,
            fallback: Array | None = None) -> Array:
    """``value`` (a number or ``{sku: number}``) as one float per SKU, checked against ``rule``.

    A mapping must name only known SKUs; SKUs it leaves out take ``fallback`` (NaN when there is none,
    which callers read as "unknown").
    """
    n = len(skus)
    if isinstance(value, Mapping):
        index = {str(s): i for i, s in enumerate(skus)}
        unknown = sorted(str(k) for k in value if str(k) not in index)
        if unknown:
            raise ValidationFailed(f"{field} names SKUs not in the history: {unknown[:5]}",
                                   details={"field": field, "unknown_skus": unknown[:20]})
        out = np.full(n, np.nan) if fallback is None else np.asarray(fallback, dtype=np.float64).copy()
        for key, item in value.items():
            number = _number(item, f"{field}[{key!r}]")
            _check(number, field, rule)
            out[index[str(key)]] = number
        return out
    number = _number(value, field)
    _check(number, field, rule)
    return np.full(n, number)


@dataclass(frozen=True)
class ClassLevels:
    """Target fill rates per ABC (or ABC-XYZ) class: ``{"A": 0.98, "B": 0.95, "C": 0.90}``."""

    levels: dict[str, float]

    @classmethod
    def parse(cls, value: Mapping[str, Any] | None) -> ClassLevels | None:
        if value is None:
            return None
        if not isinstance(value, Mapping) or not value:
            raise ValidationFailed("class_service_levels must be a non-empty mapping such as {'A': 0.98}",
                                   details={"field": "class_service_levels"})
        out = {}
        for key, item in value.items():
            name = str(key).upper()
            if len(name) not in (1, 2) or name[0] not in "ABC" or (len(name) == 2 and name[1] not in "XYZ"):
                raise ValidationFailed(f"class_service_levels: unknown class {key!r} (use A/B/C or AX..CZ)",
                                       details={"field": "class_service_levels", "class": str(key)})
            number = _number(item, f"class_service_levels[{key!r}]")
            _check(number, "class_service_levels", "unit")
            out[name] = number
        return cls(out)

    def apply(self, classes: npt.NDArray[np.object_], base: Array) -> Array:
        """Two-letter classes win over one-letter ones; SKUs of a class not named keep ``base``."""
        out = base.copy()
        for i, name in enumerate(classes):
            level = self.levels.get(str(name), self.levels.get(str(name)[0]))
            if level is not None:
                out[i] = level
        return out


def whole_periods(value: Any, field: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or int(value) < 1:
        raise ValidationFailed(f"{field} must be a whole number of periods >= 1, got {value!r}",
                               details={"field": field})
    return int(value)


def periods_per_year(freq: str) -> float:
    base = "".join(ch for ch in str(freq).split("-")[0] if ch.isalpha()).upper()
    if base not in PERIODS_PER_YEAR:
        raise ValidationFailed(f"freq {freq!r}: plans support weekly, daily, monthly or quarterly periods",
                               details={"field": "freq"})
    return PERIODS_PER_YEAR[base]
