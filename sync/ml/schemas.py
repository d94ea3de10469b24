"""Request and response bodies of the ML service (field names are the Python API's)."""

from __future__ import annotations

import datetime as dt
import math
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PlainValidator,
    StrictBool,
    StrictFloat,
    StrictInt,
    WithJsonSchema,
)

from sync.errors import ValidationFailed
from sync.ml.validation import MAX_FEATURE_MAGNITUDE, check_quantiles
from sync.web.errors import error_responses


def _number(value: Any) -> float:
    """JSON numbers only: "50", null or true is an error that names the field; so is a value past the bound."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        if isinstance(value, float) and not math.isfinite(value):
            raise ValueError("must be a finite number")
        if abs(value) <= MAX_FEATURE_MAGNITUDE:
            return float(value)
        raise ValueError(f"must be a number between -{MAX_FEATURE_MAGNITUDE:g} and {MAX_FEATURE_MAGNITUDE:g}")
    raise ValueError("must be a number")


Number = Annotated[float, PlainValidator(_number), WithJsonSchema(
    {"type": "number", "minimum": -MAX_FEATURE_MAGNITUDE, "maximum": MAX_FEATURE_MAGNITUDE})]
Row = dict[str, Number | None]
ModelName = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", protected_namespaces=())


class PredictRequest(_Body):
    model_name: ModelName
    features: dict[str, Number]


class PredictResponse(BaseModel):
    model_config = ConfigDict(protected_namespaces=())
    model_name: str
    prediction: float
    confidence: float = Field(description="Held-out share of actuals within 10% of the prediction.")
    lower: float
    upper: float
    model_version: str
    cached: bool


class BatchPredictRequest(_Body):
    model_name: ModelName
    rows: Annotated[list[dict[str, Number]], Field(min_length=1, max_length=100_000)]


class BatchPrediction(BaseModel):
    prediction: float
    confidence: float
    lower: float
    upper: float


class BatchPredictResponse(BaseModel):
    model_config = ConfigDict(protected_namespaces=())
    model_name: str
    model_version: str
    predictions: list[BatchPrediction]


class TrainRequest(_Body):
    model_name: ModelName
    data_type: ModelName | None = Field(None, description="Default: the model's own data type.")
    data: Annotated[list[Row], Field(max_length=500_000)] | None = Field(
        None, description="Rows to add before training (column -> number); omitted: train on data held.")
    replace: bool = Field(False, description="Replace the rows held for the data type instead of appending.")


class AnomaliesRequest(_Body):
    rows: Annotated[list[Row], Field(min_length=1, max_length=500_000)]
    columns: Annotated[list[Annotated[str, Field(min_length=1)]], Field(min_length=1)]


class RollbackRequest(_Body):
    version: Annotated[StrictInt, Field(ge=1)] | None = Field(None, description="Default: the version before current.")


#: history dates a forecast accepts: well inside pandas' nanosecond range (1677-09-21 to 2262-04-11),
#: with room for the horizon past the last date
HISTORY_START = dt.date(1900, 1, 1)
HISTORY_END = dt.date(2200, 12, 31)


def _history_date(value: dt.date) -> dt.date:
    if not HISTORY_START <= value <= HISTORY_END:
        raise ValueError(f"must be between {HISTORY_START} and {HISTORY_END}")
    return value


class HistoryRow(_Body):
    sku: Annotated[str, Field(min_length=1, max_length=64)]
    date: Annotated[dt.date, AfterValidator(_history_date)] = Field(
        description=f"Period date, between {HISTORY_START} and {HISTORY_END}.")
    quantity: Annotated[StrictFloat | StrictInt, Field(ge=0, le=MAX_FEATURE_MAGNITUDE,
                                                       description="Units demanded (not net of returns).")]
    price: Annotated[StrictFloat | StrictInt, Field(ge=-MAX_FEATURE_MAGNITUDE, le=MAX_FEATURE_MAGNITUDE)] | None = None
    promotion: Annotated[StrictFloat | StrictInt, Field(ge=-MAX_FEATURE_MAGNITUDE, le=MAX_FEATURE_MAGNITUDE)] | \
        StrictBool | None = None
    orders: Annotated[StrictInt, Field(ge=0, le=MAX_FEATURE_MAGNITUDE)] | None = Field(
        None, description="Distinct orders (invoices) behind the quantity: tells a one-off bulk order "
                          "from broad demand.")


History = Annotated[list[HistoryRow], Field(min_length=1, max_length=2_000_000)]

#: Period lengths the forecaster is built and tested for (weekly, any anchor, and daily). Monthly and
#: quarterly periods failed inside it with a 500, hourly ones too; they are refused here instead.
Freq = Literal["W", "W-SUN", "W-MON", "W-TUE", "W-WED", "W-THU", "W-FRI", "W-SAT", "D"]
#: most periods a history may span (first to last date): 100 years of weeks, 14 of days
MAX_HISTORY_PERIODS = 5200
_DAYS_PER_PERIOD = {"D": 1}


def check_history_span(rows: list[HistoryRow], freq: str) -> None:
    """A 422 naming ``history`` when its dates span more periods than a forecast is built for.

    Computed on ``datetime.date`` (pandas' nanosecond timedelta ends at 292 years: 1900 to 2200 was a 500).
    """
    first = min(r.date for r in rows)
    last = max(r.date for r in rows)
    periods = (last - first).days // _DAYS_PER_PERIOD.get(freq, 7) + 1
    if periods > MAX_HISTORY_PERIODS:
        raise ValidationFailed(
            f"history spans {first} to {last}: {periods} periods of {freq}, more than {MAX_HISTORY_PERIODS}",
            details=[{"field": "history", "problem": f"spans more than {MAX_HISTORY_PERIODS} periods"}])


def _quantiles(values: list[float]) -> list[float]:
    try:
        check_quantiles(values)
    except ValueError as exc:  # ValidationFailed: pydantic names the field
        raise ValueError(str(exc).removeprefix("quantiles: ")) from exc
    return values


class ForecastRequest(_Body):
    history: History | None = Field(None, description="Omitted: read from the inventory service.")
    sku: Annotated[str, Field(min_length=1, max_length=64)] | None = Field(
        None, description="With history omitted: forecast only this SKU.")
    horizon: Annotated[StrictInt, Field(ge=1, le=104)]
    freq: Freq = "W-SUN"
    quantiles: Annotated[list[Annotated[StrictFloat, Field(gt=0, lt=1)]], Field(max_length=9),
                         AfterValidator(_quantiles)] = Field(
        [0.9], description="Each gets a column q{round(100*q)}; the columns must be distinct and between q1 and q99.")


class BacktestRequest(_Body):
    history: History | None = Field(None, description="Omitted: read from the inventory service.")
    sku: Annotated[str, Field(min_length=1, max_length=64)] | None = None
    horizon: Annotated[StrictInt, Field(ge=1, le=104)]
    windows: Annotated[StrictInt, Field(ge=1, le=12)] = 3
    freq: Freq = "W-SUN"


def history_frame(rows: list[HistoryRow]) -> Any:
    import pandas as pd

    frame = pd.DataFrame([r.model_dump() for r in rows])
    frame["date"] = pd.to_datetime(frame["date"])
    for column in ("price", "promotion", "orders"):
        if frame[column].isna().all():
            frame = frame.drop(columns=column)
    return frame


_ERROR_DESCRIPTIONS = {
    400: "Malformed request.",
    401: "Admin route without a bearer token (ADMIN_TOKEN set).",
    403: "Admin route with a wrong token or one without the admin scope, or with neither ADMIN_TOKEN nor JWT set.",
    404: "Unknown model, saved version or SKU (named in the message).",
    409: "Conflict: the model is not trained, a stored model failed verification, or an Idempotency-Key "
         "was reused with another body.",
    413: "Request body too large.",
    422: "Invalid input; details name each field at fault.",
    502: "The inventory service answered against its contract (refused our request, or sent no JSON).",
    503: "The service is still starting, or a dependency (the inventory service) cannot answer.",
}


def errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` for a route's error statuses, all in the one error shape (``sync.web.errors``)."""
    return error_responses(*statuses, descriptions=_ERROR_DESCRIPTIONS)
