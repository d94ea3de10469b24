"""``/suppliers``, ``/purchase-orders`` and ``PATCH /skus/{code}`` (catalogue upkeep)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import JSONResponse

from sync.inventory.deps import Actor, Code, IdempotencyKey, Limit, State, post, read
from sync.inventory.purchasing import orders, suppliers, upkeep
from sync.inventory.purchasing.schemas import (
    PurchaseOrderIn,
    PurchaseOrderPatch,
    ReceiptIn,
    SkuPatch,
    SupplierIn,
)

router = APIRouter(tags=["purchasing"])
OrderId = Annotated[int, Path(ge=1, le=2**62)]
CONFLICT: dict[int | str, dict[str, Any]] = {
    409: {"description": "The order's status does not allow this, or more than outstanding was received"}}


@router.patch("/skus/{code}", tags=["catalog"], summary="Change a SKU's replenishment parameters (recorded)")
async def patch_sku(code: Code, body: SkuPatch, request: Request, state: State, key: IdempotencyKey = None,
                    actor: Actor = None) -> JSONResponse:
    return await post(request, state, key, body, 200,
                      lambda conn: upkeep.patch(conn, state.catalog, code, body, actor or "api"))


@router.get("/skus/{code}/changes", tags=["catalog"], summary="A SKU's recorded parameter changes, newest first")
async def sku_changes(code: Code, state: State, limit: Limit = 100) -> JSONResponse:
    return await read(upkeep.history, state.engine, code, limit)


@router.post("/suppliers", status_code=201, summary="Create a supplier")
async def create_supplier(body: SupplierIn, request: Request, state: State,
                          key: IdempotencyKey = None) -> JSONResponse:
    return await post(request, state, key, body, 201, lambda conn: suppliers.create(conn, body))


@router.get("/suppliers", summary="List suppliers with promised and observed lead times")
async def list_suppliers(state: State, limit: Limit = 100, cursor: str | None = None) -> JSONResponse:
    return await read(suppliers.list_suppliers, state.engine, limit, cursor)


@router.get("/suppliers/{code}", summary="One supplier")
async def get_supplier(code: Code, state: State) -> JSONResponse:
    return await read(suppliers.get, state.engine, code)


@router.post("/purchase-orders", status_code=201, summary="Create a purchase order (draft)")
async def create_order(body: PurchaseOrderIn, request: Request, state: State, key: IdempotencyKey = None,
                       actor: Actor = None) -> JSONResponse:
    return await post(request, state, key, body, 201,
                      lambda conn: orders.create(conn, state.catalog, body, actor or "api"))


@router.get("/purchase-orders", summary="Purchase orders, newest first")
async def list_orders(state: State, status: Annotated[str | None, Query(max_length=100)] = None,
                      supplier: Annotated[str | None, Query(max_length=64)] = None,
                      sku: Annotated[str | None, Query(max_length=64)] = None,
                      limit: Limit = 100, cursor: str | None = None) -> JSONResponse:
    return await read(orders.list_orders, state.engine, status=status, supplier=supplier, sku=sku, limit=limit,
                      cursor=cursor)


@router.get("/purchase-orders/on-order", summary="Outstanding units per SKU and location on open orders")
async def on_order(state: State) -> JSONResponse:
    return await read(orders.on_order, state.engine)


@router.get("/purchase-orders/{po_id}", summary="One purchase order")
async def get_order(po_id: OrderId, state: State) -> JSONResponse:
    return await read(orders.get, state.engine, po_id)


@router.patch("/purchase-orders/{po_id}", summary="Change line quantities of a draft order", responses=CONFLICT)
async def update_order(po_id: OrderId, body: PurchaseOrderPatch, request: Request, state: State,
                       key: IdempotencyKey = None) -> JSONResponse:
    return await post(request, state, key, body, 200, lambda conn: orders.update(conn, state.catalog, po_id, body))


@router.post("/purchase-orders/{po_id}/approve", summary="Approve a draft: its units count as incoming",
             responses=CONFLICT)
async def approve(po_id: OrderId, request: Request, state: State, key: IdempotencyKey = None) -> JSONResponse:
    return await post(request, state, key, None, 200, lambda conn: orders.approve(conn, state.catalog, po_id))


@router.post("/purchase-orders/{po_id}/send", summary="Mark an approved order as sent to the supplier",
             responses=CONFLICT)
async def send(po_id: OrderId, request: Request, state: State, key: IdempotencyKey = None) -> JSONResponse:
    return await post(request, state, key, None, 200, lambda conn: orders.send(conn, po_id))


@router.post("/purchase-orders/{po_id}/receive", summary="Receive some or all outstanding units (ledger receipts)",
             responses=CONFLICT)
async def receive(po_id: OrderId, body: ReceiptIn, request: Request, state: State, key: IdempotencyKey = None,
                  actor: Actor = None) -> JSONResponse:
    return await post(request, state, key, body, 200,
                      lambda conn: orders.receive(conn, state.catalog, po_id, body, actor or "api"))


@router.post("/purchase-orders/{po_id}/cancel", summary="Cancel what is not received yet", responses=CONFLICT)
async def cancel(po_id: OrderId, request: Request, state: State, key: IdempotencyKey = None) -> JSONResponse:
    return await post(request, state, key, None, 200, lambda conn: orders.cancel(conn, state.catalog, po_id))
