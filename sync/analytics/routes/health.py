"""GET /health: the analytics process and its one hard dependency, the inventory service."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from sync import __version__
from sync.analytics.deps import SourceDep
from sync.analytics.schemas import Health

router = APIRouter(tags=["health"])


@router.get("/health", response_model=Health, responses={503: {"model": Health}})
async def health(source: SourceDep) -> JSONResponse:
    """200 ``ok`` when the inventory service answers; 503 ``degraded`` when it is down, since no
    analytics endpoint can answer without it (the contract's rule for a hard dependency)."""
    inventory = await run_in_threadpool(source.client.health)
    up = inventory["status"] != "down"
    body = Health(status="ok" if inventory["status"] == "ok" else "degraded", service="analytics",
                  version=__version__, dependencies={"inventory": inventory})
    return JSONResponse(body.model_dump(mode="json"), status_code=200 if up else 503)
