"""Request and response bodies of the ML service (field names are the Python API's)."""

from __future__ import annotations

import datetime as dt
import math
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, PlainValidator, StrictBool, StrictFloat, StrictInt, WithJsonSchema


def _number(value: Any) -> float:
    """JSON numbers and booleans only: "50" or null is an error that names the field."""
    if isinstance(value, bool | int | float) and math.isfinite(float(value)):
        return float(value)
    raise ValueError("must be a finite number")


Number = Annotated[float, PlainValidator(_number), WithJsonSchema({"type": "number"})]
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
    version: Annotated[int, Field(ge=1)] | None = Field(None, description="Default: the version before current.")


class HistoryRow(_Body):
    sku: Annotated[str, Field(min_length=1, max_length=64)]
    date: dt.date
    quantity: Annotated[StrictFloat | StrictInt, Field(ge=0, description="Units demanded (not net of returns).")]
    price: StrictFloat | StrictInt | None = None
    promotion: StrictFloat | StrictInt | StrictBool | None = None
    orders: Annotated[StrictInt, Field(ge=0)] | None = Field(
        None, description="Distinct orders (invoices) behind the quantity: tells a one-off bulk order "
                          "from broad demand.")


History = Annotated[list[HistoryRow], Field(min_length=1, max_length=2_000_000)]


class ForecastRequest(_Body):
    history: History | None = Field(None, description="Omitted: read from the inventory service.")
    sku: Annotated[str, Field(min_length=1, max_length=64)] | None = Field(
        None, description="With history omitted: forecast only this SKU.")
    horizon: Annotated[int, Field(ge=1, le=104)]
    freq: str = "W-SUN"
    quantiles: Annotated[list[Annotated[float, Field(gt=0, lt=1)]], Field(max_length=9)] = [0.9]


class BacktestRequest(_Body):
    history: History | None = Field(None, description="Omitted: read from the inventory service.")
    sku: Annotated[str, Field(min_length=1, max_length=64)] | None = None
    horizon: Annotated[int, Field(ge=1, le=104)]
    windows: Annotated[int, Field(ge=1, le=12)] = 3
    freq: str = "W-SUN"


def history_frame(rows: list[HistoryRow]) -> Any:
    import pandas as pd

    frame = pd.DataFrame([r.model_dump() for r in rows])
    frame["date"] = pd.to_datetime(frame["date"])
    for column in ("price", "promotion", "orders"):
        if frame[column].isna().all():
            frame = frame.drop(columns=column)
    return frame
