"""Facts one stage learns about a request and a later stage needs."""

from __future__ import annotations

from sync.gateway.auth import Principal
from sync.gateway.balancer import Pool
from sync.gateway.types import Headers


class RequestContext:
    __slots__ = ("client", "path", "pool", "principal", "request_id", "response_headers", "service", "status",
                 "upstream_path")

    def __init__(self, request_id: bytes) -> None:
        self.request_id = request_id
        self.service = "-"  # metrics label: "-" for the gateway's own routes and unknown services
        self.pool: Pool | None = None
        self.path = ""  # upstream path without its leading slash, for rule matching
        self.upstream_path = b"/"
        self.principal: Principal | None = None
        self.client = ""
        self.status = 0  # set when the response starts; stages read it instead of wrapping ``send``
        self.response_headers: Headers = [(b"x-request-id", request_id)]
