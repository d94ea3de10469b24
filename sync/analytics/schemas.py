"""Response models: what /openapi.json documents and what every endpoint answers."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from sync.web.errors import error_responses

MovementClass = Literal["active", "slow", "dead", "out_of_stock"]


class Window(BaseModel):
    as_of: datetime = Field(description="End of the window (UTC); stock figures are as of this moment.")
    window_days: int = Field(description="Length of the window demand and turnover are measured over.")
    window_start: datetime


class StockBucket(BaseModel):
    sku_count: int
    value: float = Field(description="Stock value at cost of these SKUs.")


class Metrics(Window):
    """The summary the seed's `GET /analytics/metrics` prints."""

    sku_count: int
    units_on_hand: float
    units_reserved: float
    units_available: float
    units_incoming: float
    stock_value_at_cost: float = Field(description="Sum of on-hand (negative counted as 0) x unit cost.")
    stock_value_at_price: float = Field(description="Same at selling price (SKUs without a price count 0).")
    stockouts: int = Field(description="SKUs with on-hand <= 0 (all locations together).")
    below_reorder_point: int = Field(description="SKUs whose available + incoming is at or below their reorder point.")
    units_shipped: float
    units_returned: float
    return_rate: float | None = Field(description="Units returned / units shipped in the window.")
    cogs: float = Field(description="Net units shipped (shipments - returns) x unit cost, in the window.")
    average_inventory_value: float = Field(description="Time-weighted average stock value at cost over the window.")
    inventory_turnover: float | None = Field(description="COGS / average inventory value, over the window.")
    annual_inventory_turnover: float | None = Field(description="Turnover scaled to 365 days.")
    days_of_supply: float | None = Field(description="Stock value at cost / COGS per day.")
    in_stock_rate: float | None = Field(
        description="Mean over SKUs of the share of the window (of their life in it) with stock > 0.")
    fill_rate: float | None = Field(
        description="Share of requested units shipped. The ledger records only shipments that happened, "
        "never refused ones, so this is null unless the inventory service records shortages.")
    dead_stock: StockBucket = Field(description="SKUs with stock and no demand in the window.")
    slow_stock: StockBucket = Field(description="SKUs with stock whose days of supply exceed slow_days.")
    slow_days: float
    last_activity_at: datetime | None = Field(
        description="Latest stock-level change in the inventory service; far before as_of means stale data.")


class SkuKpi(BaseModel):
    sku: str
    name: str | None
    unit_cost: float | None
    price: float | None
    on_hand: float = Field(description="At as_of, all locations.")
    reserved: float = Field(description="Now (reservations are not in the ledger's history).")
    available: float = Field(description="on_hand - reserved.")
    incoming: float = Field(description="Now (like reserved).")
    position: float = Field(description="available + incoming.")
    reorder_point: float | None
    max_qty: float | None
    lead_time_days: float | None
    supplier: str | None
    stock_value: float
    units_shipped: float
    units_returned: float
    demand: float = Field(description="Units shipped - units returned in the window.")
    daily_demand: float
    cogs: float
    avg_on_hand: float = Field(description="Time-weighted average on-hand over the window.")
    turnover: float | None
    annual_turnover: float | None
    days_of_supply: float | None
    in_stock_share: float | None = Field(
        description="Share of the window (from the SKU's creation, if later) with on-hand > 0.")
    last_shipment_at: datetime | None = Field(description="Last shipment inside the window.")
    stockout: bool
    below_reorder_point: bool
    movement_class: MovementClass


class SkuKpis(Window):
    slow_days: float
    total: int = Field(description="SKUs matching the filters, before limit/offset.")
    items: list[SkuKpi]


class MatrixCell(BaseModel):
    sku_count: int
    annual_consumption_value: float


class Thresholds(BaseModel):
    a_share: float
    b_share: float
    x_max: float
    y_max: float


class ClassifiedSku(BaseModel):
    sku: str
    name: str | None
    unit_cost: float | None
    rank: int = Field(description="1 = largest annual consumption value.")
    annual_units: float
    annual_consumption_value: float
    share: float
    cumulative_share: float
    abc: Literal["A", "B", "C"]
    mean_weekly_demand: float
    std_weekly_demand: float
    cv: float | None = Field(description="Coefficient of variation of weekly demand; null without demand.")
    xyz: Literal["X", "Y", "Z"]
    cls: str = Field(alias="class", description="abc + xyz, e.g. AX.")

    model_config = {"populate_by_name": True}


class Classification(BaseModel):
    as_of: datetime
    weeks: int
    first_week_end: date = Field(description="Sunday ending the first week used.")
    last_week_end: date = Field(description="Sunday ending the last full week before as_of.")
    thresholds: Thresholds
    matrix: dict[str, dict[str, MatrixCell]] = Field(description="matrix[abc][xyz], all nine cells.")
    total: int
    items: list[ClassifiedSku]


class ReorderAlert(BaseModel):
    sku: str
    name: str | None
    supplier: str | None
    urgency: Literal["out_of_stock", "below_reorder_point"]
    on_hand: float
    reserved: float
    available: float
    incoming: float
    position: float
    reorder_point: float
    max_qty: float | None
    daily_demand: float
    days_of_supply: float | None
    lead_time_days: float | None
    order_up_to: float
    suggested_order_qty: float
    unit_cost: float | None
    order_value: float
    plan_id: str | None = Field(None, description="The replenishment plan the figures came from, if any.")
    reorder_point_source: str | None = Field(None, description="Where reorder_point came from.")
    demand_source: str | None = Field(None, description="Where daily_demand came from.")
    order_up_to_source: str | None = Field(None, description="Where order_up_to came from.")


class ReorderAlerts(Window):
    cover_days: float
    total: int
    total_order_value: float
    items: list[ReorderAlert]


class LocationValue(BaseModel):
    location: str
    sku_count: int = Field(description="SKUs with on-hand > 0 at this location.")
    units_on_hand: float
    stock_value_at_cost: float
    stock_value_at_price: float


class StockValue(BaseModel):
    as_of: datetime
    total_stock_value_at_cost: float
    total_stock_value_at_price: float
    items: list[LocationValue]


class Dependency(BaseModel):
    status: Literal["ok", "degraded", "down"]
    url: str
    detail: str | None = None


class Health(BaseModel):
    status: Literal["ok", "degraded"]
    service: str
    version: str
    dependencies: dict[str, Dependency]


#: The error answers of every data endpoint (they all read the inventory service), in the one error shape.
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = error_responses(422, 502, 503, descriptions={
    422: "Invalid query parameter; details name each one.",
    502: "The inventory service answered outside its contract.",
    503: "The inventory service is unreachable or failing.",
})
