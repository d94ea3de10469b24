"""``/reservations``: hold stock, then commit (a shipment) or release it; expiry releases it too."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request
from fastapi.responses import JSONResponse

from sync.inventory import reservations
from sync.inventory.deps import Actor, IdempotencyKey, State, post, read
from sync.inventory.schemas import ReservationIn

router = APIRouter(tags=["reservations"])
ReservationId = Annotated[str, Path(max_length=36)]


@router.post("/reservations", status_code=201, summary="Reserve available stock until it expires")
async def create_reservation(body: ReservationIn, request: Request, state: State,
                             key: IdempotencyKey = None) -> JSONResponse:
    return await post(request, state, key, body, 201, lambda conn: reservations.create(conn, state.catalog, body))


@router.get("/reservations/{reservation_id}", summary="One reservation")
async def get_reservation(reservation_id: ReservationId, state: State) -> JSONResponse:
    return await read(reservations.get, state.engine, state.catalog, reservation_id)


@router.post("/reservations/{reservation_id}/commit", summary="Ship the reserved units")
async def commit_reservation(reservation_id: ReservationId, request: Request, state: State,
                             key: IdempotencyKey = None, actor: Actor = None) -> JSONResponse:
    return await post(request, state, key, None, 200,
                      lambda conn: reservations.commit(conn, state.catalog, reservation_id, actor or "api"))


@router.post("/reservations/{reservation_id}/release", summary="Give the reserved units back")
async def release_reservation(reservation_id: ReservationId, request: Request, state: State,
                              key: IdempotencyKey = None) -> JSONResponse:
    return await post(request, state, key, None, 200,
                      lambda conn: reservations.release(conn, state.catalog, reservation_id) or {})
