"""Shared request dependencies and parameter types, the one idempotency wrapper every POST goes through
(``post``) and the one way a GET answers (``read``)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Any, ParamSpec

from fastapi import Depends, Header, Path, Query, Request
from fastapi.responses import JSONResponse
from pydantic import AfterValidator, BaseModel
from sqlalchemy.engine import Connection, Engine
from starlette.concurrency import run_in_threadpool

from sync.inventory import idempotency
from sync.inventory.catalog import Catalog
from sync.inventory.idempotency import KeySlot
from sync.inventory.store import InventoryStore
from sync.web.input_guards import check_idempotency_key, utf8_header


class ServiceState:
    """What the routes need, built once in the app's lifespan."""

    def __init__(self, engine: Engine, catalog: Catalog, store: InventoryStore) -> None:
        self.engine = engine
        self.catalog = catalog
        self.store = store


async def get_state(request: Request) -> ServiceState:
    """Async on purpose: FastAPI runs a plain ``def`` dependency in its threadpool, and that hop cost
    ~130 us of CPU on every request, a fifth of a movement's (bench/inventory.py, docs/inventory.md)."""
    return request.app.state.inventory  # type: ignore[no-any-return]


State = Annotated[ServiceState, Depends(get_state)]
IdempotencyKey = Annotated[str | None, Header(alias="Idempotency-Key", description=(
    "Any unique string; a replay returns the first response and changes nothing."))]
Actor = Annotated[str | None, Header(alias="X-Actor", max_length=200,
                                     description="Who made the change (recorded in the ledger); UTF-8."),
                  AfterValidator(utf8_header)]
Write = Callable[[KeySlot | None], Awaitable[dict[str, Any]]]
Limit = Annotated[int, Query(ge=1, le=1000)]
Code = Annotated[str, Path(max_length=64)]
P = ParamSpec("P")


async def read(fn: Callable[P, Any], *args: P.args, **kwargs: P.kwargs) -> JSONResponse:
    """A GET's answer: ``fn`` (a blocking database read) run in a worker thread, as JSON."""
    return JSONResponse(await run_in_threadpool(fn, *args, **kwargs))


async def post_write(request: Request, state: ServiceState, key: str | None, payload: Callable[[], Any],
                     status: int, write: Write) -> JSONResponse:
    """Run ``write`` once per Idempotency-Key (``idempotency.run``); replays carry ``Idempotent-Replayed``.

    The fingerprint is the method, the path and ``payload()`` (the validated body, or what identifies an
    upload), computed only when there is a key. ``write`` stores the key with its change through the
    slot it is given.
    """
    key = check_idempotency_key(key)
    fp = idempotency.fingerprint(request.method, request.url.path, payload()) if key is not None else ""
    outcome = await idempotency.run(state.store, key, fp, status, write)
    headers = {"Idempotent-Replayed": "true"} if outcome.replayed else None
    return JSONResponse(outcome.body, status_code=outcome.status, headers=headers)


async def post(request: Request, state: ServiceState, key: str | None, body: BaseModel | None, status: int,
               work: Callable[[Connection], dict[str, Any]]) -> JSONResponse:
    """``post_write`` for a write that is ``work(conn)`` in one transaction of the store."""
    def payload() -> Any:
        return body.model_dump(mode="json") if body is not None else None

    return await post_write(request, state, key, payload, status, lambda slot: state.store.write(work, slot))
