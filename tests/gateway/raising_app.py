"""A FastAPI service whose ``/boom`` raises (uvicorn answers 500, then closes the connection) and whose
``POST /writes`` records each write: served by uvicorn in a subprocess for the gateway's connection tests.

Run: ``python -m tests.gateway.raising_app PORT [START_DELAY]`` (``START_DELAY`` seconds of start-up before
``/health`` answers 200; until then it answers 503, as a service still loading its models does).
"""

from __future__ import annotations

import asyncio
import sys
import time
from typing import Any

from sync.settings import Settings
from sync.web.app import create_service_app
from sync.web.server import serve

app = create_service_app(title="raising", settings=Settings())
writes: list[dict[str, Any]] = []
started_at = time.monotonic()
START_DELAY = 0.0


@app.get("/health")
async def health() -> Any:
    from fastapi.responses import JSONResponse

    ready = time.monotonic() - started_at >= START_DELAY
    return JSONResponse({"status": "ok" if ready else "starting"}, status_code=200 if ready else 503)


@app.get("/boom")
async def boom() -> None:
    raise RuntimeError("this route fails on purpose")


@app.post("/writes")
async def write(body: dict[str, Any]) -> dict[str, Any]:
    writes.append(body)
    return {"applied": len(writes)}


@app.get("/writes")
async def count() -> dict[str, int]:
    return {"count": len(writes)}


@app.get("/slow")
async def slow() -> None:
    await asyncio.sleep(3600)


if __name__ == "__main__":
    if len(sys.argv) > 2:
        START_DELAY = float(sys.argv[2])
    serve(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning")
