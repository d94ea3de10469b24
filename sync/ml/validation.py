"""Checks on training frames and feature rows, so bad input fails with an error that names the column."""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from numbers import Real
from typing import Any

import numpy as np
import pandas as pd

from sync.errors import ValidationFailed

#: fewest rows a model is trained on: enough for 3-fold selection and a held-out calibration set
MIN_TRAINING_ROWS = 30
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
#: largest magnitude of a feature or training value: far past any real quantity, price or score, and
#: small enough that scaling, linear models and intervals stay finite (1e308 made predictions NaN)
MAX_FEATURE_MAGNITUDE = 1e12


def check_name(value: str, what: str) -> str:
    """A model or data-type name: also a directory name under ML_MODEL_PATH, so no path tricks."""
    if not isinstance(value, str) or not NAME_PATTERN.match(value) or ".." in value:
        raise ValidationFailed(
            f"{what} {value!r} is not a valid name (letters, digits, '_', '-', '.'; at most 64)",
            details={"field": what, "value": str(value)[:80]},
        )
    return value


def check_frame(df: Any, what: str) -> pd.DataFrame:
    if not isinstance(df, pd.DataFrame):
        raise ValidationFailed(f"{what} must be a pandas DataFrame, got {type(df).__name__}")
    if df.empty or len(df.columns) == 0:
        raise ValidationFailed(f"{what} is empty", details={"rows": len(df), "columns": len(df.columns)})
    return df


def numeric_matrix(df: pd.DataFrame, columns: Sequence[str], what: str) -> np.ndarray:
    """The columns as a float matrix; missing, non-numeric, all-NaN or infinite columns are refused.

    Single NaNs stay (the pipeline's imputer fills them); a column that is NaN throughout cannot be
    learned from and is named in the error.
    """
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise ValidationFailed(
            f"{what} lacks columns {missing}", details={"missing": missing, "required": list(columns)}
        )
    bad = [c for c in columns if not (pd.api.types.is_numeric_dtype(df[c]) or pd.api.types.is_bool_dtype(df[c]))]
    if bad:
        kinds = {c: str(df[c].dtype) for c in bad}
        raise ValidationFailed(f"{what}: columns {bad} are not numeric ({kinds})", details={"non_numeric": kinds})
    matrix = df[list(columns)].to_numpy(dtype=np.float64)
    all_nan = [c for i, c in enumerate(columns) if np.isnan(matrix[:, i]).all()]
    if all_nan:
        raise ValidationFailed(f"{what}: columns {all_nan} have no values (all NaN)", details={"all_nan": all_nan})
    infinite = [c for i, c in enumerate(columns) if np.isinf(matrix[:, i]).any()]
    if infinite:
        raise ValidationFailed(f"{what}: columns {infinite} contain infinite values", details={"infinite": infinite})
    with np.errstate(invalid="ignore"):
        huge = [c for i, c in enumerate(columns) if (np.abs(matrix[:, i]) > MAX_FEATURE_MAGNITUDE).any()]
    if huge:
        raise ValidationFailed(f"{what}: columns {huge} hold values beyond ±{MAX_FEATURE_MAGNITUDE:g}",
                               details={"out_of_range": huge, "max_magnitude": MAX_FEATURE_MAGNITUDE})
    checked: np.ndarray = matrix
    return checked


def target_vector(df: pd.DataFrame, column: str, what: str) -> np.ndarray:
    """The target column as floats; a NaN target cannot be learned from and is refused with its count."""
    y = numeric_matrix(df, [column], what)[:, 0]
    nan_rows = int(np.isnan(y).sum())
    if nan_rows:
        raise ValidationFailed(
            f"{what}: target column {column!r} has {nan_rows} missing values",
            details={"column": column, "nan_rows": nan_rows},
        )
    return y


def check_rows(n_rows: int, what: str, minimum: int = MIN_TRAINING_ROWS) -> None:
    if n_rows < minimum:
        raise ValidationFailed(
            f"{what} has {n_rows} rows; at least {minimum} are needed to train and calibrate",
            details={"rows": n_rows, "minimum": minimum},
        )


def feature_row(features: Any, columns: Sequence[str], model_name: str) -> tuple[float, ...]:
    """A feature mapping as a tuple in the model's column order (extra keys are ignored).

    A missing key, ``None``, a string, any other non-number or a number beyond
    ±:data:`MAX_FEATURE_MAGNITUDE` is refused, naming the feature.
    """
    if not isinstance(features, Mapping):
        raise ValidationFailed(f"features for {model_name!r} must be a mapping of column -> number")
    missing = [c for c in columns if c not in features]
    if missing:
        raise ValidationFailed(
            f"features for {model_name!r} lack {missing}", details={"missing": missing, "required": list(columns)}
        )
    row: list[float] = []
    bad: dict[str, str] = {}
    for column in columns:
        value = features[column]
        if isinstance(value, bool | np.bool_):
            row.append(float(value))
        elif isinstance(value, Real) and not isinstance(value, bool) and _finite(value):
            if abs(float(value)) > MAX_FEATURE_MAGNITUDE:
                bad[column] = f"beyond ±{MAX_FEATURE_MAGNITUDE:g}"
            else:
                row.append(float(value))
        else:
            bad[column] = "not a finite number" if isinstance(value, Real) else f"not a number ({type(value).__name__})"
    if bad:
        raise ValidationFailed(
            f"features for {model_name!r}: {', '.join(f'{k} is {v}' for k, v in bad.items())}",
            details={"invalid": bad},
        )
    return tuple(row)


def _finite(value: Real) -> bool:
    try:
        return math.isfinite(float(value))
    except OverflowError:  # an int too large for a float
        return True


def quantile_column(q: float) -> str:
    """The SPEC's column name of quantile ``q``: ``q{round(100*q)}``."""
    return f"q{round(100 * q)}"


def check_quantiles(quantiles: Iterable[float], field: str = "quantiles") -> tuple[float, ...]:
    """Quantiles in (0, 1) whose columns ``q{round(100*q)}`` are distinct and neither q0 nor q100.

    0.001 and 0.004 would both be q0 and 0.9991 q100, so a forecast would silently return fewer
    columns than asked for (or a "q0" that is not the minimum): such sets are refused, naming them.
    """
    values = tuple(float(q) for q in quantiles)
    outside = [q for q in values if not 0.0 < q < 1.0]
    if outside:
        raise ValidationFailed(f"{field}: every quantile must lie in (0, 1), got {outside}",
                               details=[{"field": field, "problem": "outside (0, 1)"}])
    names: dict[str, list[float]] = {}
    for q in values:
        names.setdefault(quantile_column(q), []).append(q)
    edge = {name: qs for name, qs in names.items() if name in ("q0", "q100")}
    clash = {name: qs for name, qs in names.items() if len(qs) > 1 and name not in edge}
    if edge or clash:
        problems = [f"{qs} round to {name}" for name, qs in {**edge, **clash}.items()]
        raise ValidationFailed(
            f"{field}: columns are named q{{round(100*q)}}, so each quantile must name its own column "
            f"between q1 and q99: {'; '.join(problems)}",
            details=[{"field": field, "problem": "; ".join(problems)}])
    return values
