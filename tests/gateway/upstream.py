"""Real upstream HTTP servers for the gateway tests: small aiohttp apps on free ports.

Each records what it received and can be told to fail (answer 503, or hang) and to recover, or be
stopped and started again on the same port (a killed instance).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from aiohttp import web

from tests.serving import free_port


@dataclass
class Upstream:
    name: str
    port: int = field(default_factory=free_port)
    fail_status: int | None = None  # answer this status to everything except /health
    health_status: int = 200
    hang: bool = False
    hits: int = 0
    health_hits: int = 0
    requests: list[dict[str, object]] = field(default_factory=list)
    _runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def _health(self, request: web.Request) -> web.Response:
        self.health_hits += 1
        return web.json_response({"status": "ok" if self.health_status == 200 else "down"},
                                 status=self.health_status)

    async def _big(self, request: web.Request) -> web.StreamResponse:
        size = int(request.match_info["size"])
        resp = web.StreamResponse()
        resp.content_type = "application/octet-stream"
        await resp.prepare(request)
        chunk = b"x" * 65536
        sent = 0
        while sent < size:
            part = chunk[: min(len(chunk), size - sent)]
            await resp.write(part)
            sent += len(part)
        await resp.write_eof()
        return resp

    async def _any(self, request: web.Request) -> web.StreamResponse:
        self.hits += 1
        body = await request.read()
        self.requests.append({"method": request.method, "path": request.path_qs, "headers": dict(request.headers),
                              "raw_path": request.raw_path, "body_len": len(body)})
        if self.hang:
            await asyncio.sleep(3600)
        if self.fail_status is not None:
            return web.json_response({"error": "failing on purpose"}, status=self.fail_status)
        return web.json_response({"instance": self.name, "method": request.method, "path": request.path_qs,
                                  "body_len": len(body)},
                                 headers={"Connection": "X-Secret-Hop", "X-Secret-Hop": "1", "Keep-Alive": "x"})

    async def start(self) -> Upstream:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_get("/health", self._health)
        app.router.add_get("/big/{size}", self._big)
        app.router.add_route("*", "/{tail:.*}", self._any)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.1)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
