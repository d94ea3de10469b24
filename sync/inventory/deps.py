"""Shared request dependencies and the one helper every POST goes through (idempotency, threadpool)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import Depends, Header, Request
from fastapi.responses import JSONResponse
from pydantic import AfterValidator, BaseModel
from sqlalchemy.engine import Connection, Engine
from starlette.concurrency import run_in_threadpool

from sync.inventory.catalog import Catalog
from sync.inventory.fastpath import FastMovements
from sync.inventory.idempotency import check_key, fingerprint, run_idempotent
from sync.web.input_guards import utf8_header


class ServiceState:
    """What the routes need, built once in the app's lifespan."""

    def __init__(self, engine: Engine, catalog: Catalog, fast: FastMovements | None = None) -> None:
        self.engine = engine
        self.catalog = catalog
        self.fast = fast


def get_state(request: Request) -> ServiceState:
    return request.app.state.inventory  # type: ignore[no-any-return]


State = Annotated[ServiceState, Depends(get_state)]
IdempotencyKey = Annotated[str | None, Header(alias="Idempotency-Key", description=(
    "Any unique string; a replay returns the first response and changes nothing."))]
Actor = Annotated[str | None, Header(alias="X-Actor", max_length=200,
                                     description="Who made the change (recorded in the ledger); UTF-8."),
                  AfterValidator(utf8_header)]


async def post(request: Request, state: ServiceState, key: str | None, body: BaseModel | None, status: int,
               work: Callable[[Connection], dict[str, Any]]) -> JSONResponse:
    """Run a write in the threadpool, once per Idempotency-Key; replays carry ``Idempotent-Replayed``."""
    key = check_key(key)
    payload = body.model_dump(mode="json") if body is not None else None
    fp = fingerprint(request.method, request.url.path, payload)
    outcome = await run_in_threadpool(run_idempotent, state.engine, key, fp, status, work)
    headers = {"Idempotent-Replayed": "true"} if outcome.replayed else None
    return JSONResponse(outcome.body, status_code=outcome.status, headers=headers)
