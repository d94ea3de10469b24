"""Checks on training frames and feature rows, so bad input fails with an error that names the column."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from numbers import Real
from typing import Any

import numpy as np
import pandas as pd

from sync.errors import ValidationFailed

#: fewest rows a model is trained on: enough for 3-fold selection and a held-out calibration set
MIN_TRAINING_ROWS = 30
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


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
    return matrix


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

    A missing key, ``None``, a string or any other non-number is refused, naming the feature.
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
        elif isinstance(value, Real) and not isinstance(value, bool) and math.isfinite(float(value)):
            row.append(float(value))
        else:
            bad[column] = "not a finite number" if isinstance(value, Real) else f"not a number ({type(value).__name__})"
    if bad:
        raise ValidationFailed(
            f"features for {model_name!r}: {', '.join(f'{k} is {v}' for k, v in bad.items())}",
            details={"invalid": bad},
        )
    return tuple(row)
