"""Request bodies for suppliers, purchase orders and SKU upkeep (``PATCH /skus/{code}``)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import Field, JsonValue, model_validator

from sync.inventory.schemas import Code, Quantity, _Body

Money = Annotated[Decimal, Field(ge=0, max_digits=14, decimal_places=4, allow_inf_nan=False)]
Policy = Literal["manual", "planner"]
PO_STATUSES = ("draft", "approved", "sent", "partially_received", "received", "cancelled")
PoStatus = Literal["draft", "approved", "sent", "partially_received", "received", "cancelled"]


class SupplierIn(_Body):
    code: Code
    name: Annotated[str, Field(min_length=1, max_length=200)]
    lead_time_days: Annotated[int, Field(ge=0, le=3650, strict=True)] = 14
    lead_time_sd_days: Annotated[float | None, Field(ge=0, le=3650, allow_inf_nan=False)] = None


class SkuPatch(_Body):
    """The replenishment parameters a planner keeps up to date. Only the fields sent change."""

    name: Annotated[str | None, Field(min_length=1, max_length=200)] = None
    reorder_point: Annotated[int | None, Field(ge=0, le=1_000_000_000, strict=True)] = None
    order_up_to: Annotated[int | None, Field(ge=0, le=1_000_000_000, strict=True)] = None
    min_qty: Annotated[int | None, Field(ge=0, le=1_000_000_000, strict=True)] = None
    max_qty: Annotated[int | None, Field(ge=0, le=1_000_000_000, strict=True)] = None
    lead_time_days: Annotated[int | None, Field(ge=0, le=3650, strict=True)] = None
    unit_cost: Money | None = None
    price: Money | None = None
    ordering_cost: Money | None = None
    supplier: Code | None = None
    policy: Policy | None = None

    @model_validator(mode="after")
    def _something_and_consistent(self) -> SkuPatch:
        if not self.model_fields_set:
            raise ValueError("send at least one field to change")
        if self.order_up_to is not None and self.reorder_point is not None and self.order_up_to < self.reorder_point:
            raise ValueError("order_up_to must be at least reorder_point")
        return self


class LineIn(_Body):
    sku: Code
    quantity: Quantity
    unit_cost: Money | None = None
    reason: dict[str, JsonValue] | None = Field(None, description="Why the line was proposed (the planner's figures).")


class PurchaseOrderIn(_Body):
    supplier: Code
    location: Code
    lines: Annotated[list[LineIn], Field(min_length=1, max_length=5000)]
    expected_at: date | None = Field(None, description="Default: today + the supplier's lead time.")
    reference: Annotated[str | None, Field(max_length=200)] = None
    note: Annotated[str | None, Field(max_length=1000)] = None
    plan_id: Annotated[str | None, Field(max_length=64)] = None

    @model_validator(mode="after")
    def _one_line_per_sku(self) -> PurchaseOrderIn:
        seen: set[str] = set()
        for line in self.lines:
            if line.sku in seen:
                raise ValueError(f"lines: SKU {line.sku!r} appears twice")
            seen.add(line.sku)
        return self


class LineQuantity(_Body):
    sku: Code
    quantity: Quantity


class PurchaseOrderPatch(_Body):
    """Draft orders only: change line quantities (a line with quantity it did not have is refused)."""

    lines: Annotated[list[LineQuantity], Field(min_length=1, max_length=5000)]


class ReceiptIn(_Body):
    lines: Annotated[list[LineQuantity], Field(min_length=1, max_length=5000)]
    reference: Annotated[str | None, Field(max_length=200)] = None
