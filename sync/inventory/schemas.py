"""Request bodies of the inventory API. Responses are plain dicts built in ``serialize.py``.

Quantities are whole units (``int``): every unit in the Online Retail data is a count, and integer
arithmetic keeps the ledger sums exact. A fractional or non-numeric quantity is a 422 naming the field.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, Strict, field_validator, model_validator

#: The one set of bounds: the request bodies below and the CSV import (``csv_formats``) both use these.
CODE_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._\-]*$"
CODE_MAX = 64
MAX_QUANTITY = 1_000_000_000
MAX_MONEY = Decimal("9999999999.9999")  # Numeric(14, 4)
NAME_MAX = 200
REFERENCE_MAX = 200

Code = Annotated[str, Field(min_length=1, max_length=CODE_MAX, pattern=CODE_PATTERN)]


def _not_bool(value: object) -> object:
    if isinstance(value, bool):  # pydantic would take true as 1
        raise ValueError("must be a number of units, not a boolean")
    return value


#: Integers are strict: ``"5"`` and ``5.0`` are refused (the contract says integer), as are booleans.
Count = Annotated[int, BeforeValidator(_not_bool), Strict()]
Quantity = Annotated[Count, Field(gt=0, le=MAX_QUANTITY, description="Whole units, > 0.")]
MovementType = Literal["receipt", "shipment", "adjustment", "transfer", "return"]
ADJUSTMENT_REASONS = ("count_correction", "damaged", "lost", "theft", "expired", "found", "write_off", "other")


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    @field_validator("*", mode="after")
    @classmethod
    def _no_nul(cls, value: object) -> object:
        if isinstance(value, str) and "\x00" in value:  # PostgreSQL refuses NUL, SQLite would keep it
            raise ValueError("must not contain a NUL character")
        return value


class SkuIn(_Body):
    code: Code
    name: Annotated[str, Field(min_length=1, max_length=NAME_MAX)]
    unit: Annotated[str, Field(min_length=1, max_length=16)] = "each"
    unit_cost: Annotated[Decimal, Field(ge=0, le=MAX_MONEY, max_digits=14, decimal_places=4,
                                        allow_inf_nan=False)] = Decimal(0)
    price: Annotated[Decimal, Field(ge=0, le=MAX_MONEY, max_digits=14, decimal_places=4,
                                    allow_inf_nan=False)] = Decimal(0)
    reorder_point: Annotated[Count, Field(ge=0, le=MAX_QUANTITY)] = 0
    min_qty: Annotated[Count, Field(ge=0, le=MAX_QUANTITY)] = 0
    max_qty: Annotated[Count | None, Field(ge=0, le=MAX_QUANTITY)] = None
    supplier: Annotated[str | None, Field(max_length=NAME_MAX)] = None
    lead_time_days: Annotated[Count, Field(ge=0, le=3650)] = 14

    @model_validator(mode="after")
    def _min_below_max(self) -> SkuIn:
        if self.max_qty is not None and self.max_qty < self.min_qty:
            raise ValueError("max_qty must be >= min_qty")
        return self


class LocationIn(_Body):
    code: Code
    name: Annotated[str, Field(min_length=1, max_length=NAME_MAX)]
    allow_negative: bool = False


class MovementIn(_Body):
    type: MovementType
    sku: Code
    location: Code
    quantity: Quantity
    to_location: Code | None = None
    direction: Literal["increase", "decrease"] | None = Field(
        None, description="Adjustments only: whether on_hand goes up or down by `quantity`."
    )
    reason: Annotated[str | None, Field(max_length=64)] = None
    reference: Annotated[str | None, Field(max_length=REFERENCE_MAX)] = None

    @model_validator(mode="after")
    def _consistent(self) -> MovementIn:
        if self.type == "transfer":
            if not self.to_location:
                raise ValueError("to_location is required for a transfer")
            if self.to_location == self.location:
                raise ValueError("to_location must differ from location for a transfer")
        elif self.to_location is not None:
            raise ValueError(f"to_location is only allowed for a transfer, not a {self.type}")
        if self.type == "adjustment":
            if self.direction is None:
                raise ValueError("direction ('increase' or 'decrease') is required for an adjustment")
            if self.reason not in ADJUSTMENT_REASONS:
                raise ValueError(f"reason is required for an adjustment and must be one of {ADJUSTMENT_REASONS}")
        elif self.direction is not None:
            raise ValueError("direction is only allowed for an adjustment")
        return self


class ReservationIn(_Body):
    sku: Code
    location: Code
    quantity: Quantity
    ttl_seconds: Annotated[float, Field(gt=0, le=30 * 24 * 3600, allow_inf_nan=False)] = 900
    reference: Annotated[str | None, Field(max_length=REFERENCE_MAX)] = None
