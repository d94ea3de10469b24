"""The analytics service's one HTTP client for the inventory service (contract: docs/CONTRACTS.md).

Opened once in the app's lifespan and closed there. Transport failures, timeouts and 5xx answers are
translated here, at one boundary, into :class:`~sync.errors.UpstreamUnavailable` (503); an answer that
breaks the contract becomes :class:`UpstreamContractError` (502). The errors name the dependency and the
path asked for, never its internal address or the text it answered with (a database error, say): those
go to the log, where the operator reads them.
"""

from __future__ import annotations

import logging
from typing import Any

import httpx

from sync.errors import SyncError, UpstreamUnavailable

#: Connecting is local and fast or it fails; reading a page of 1000 ledger rows may take longer.
DEFAULT_TIMEOUT = httpx.Timeout(connect=2.0, read=15.0, write=5.0, pool=5.0)
HEALTH_TIMEOUT = httpx.Timeout(2.0)
PAGE_SIZE = 1000
#: the days ``/demand-history`` answers for (its contract): what pandas and both databases can hold, with room
LEDGER_DAYS = ("1900-01-01", "2199-12-31")
MAX_PAGES = 100_000

log = logging.getLogger("sync.analytics")


class UpstreamContractError(SyncError):
    """The inventory service answered, but not as the contract says (a 4xx to our request, bad JSON)."""

    status = 502
    code = "bad_gateway"


class InventoryClient:
    """Read-only access to the inventory service's list endpoints, following cursors to the end."""

    def __init__(self, base_url: str, *, timeout: httpx.Timeout = DEFAULT_TIMEOUT,
                 transport: httpx.AsyncBaseTransport | None = None, page_size: int = PAGE_SIZE) -> None:
        self.base_url = base_url.rstrip("/")
        self.page_size = page_size
        self._client = httpx.AsyncClient(base_url=self.base_url, timeout=timeout, transport=transport,
                                         headers={"accept": "application/json"})

    async def aclose(self) -> None:
        await self._client.aclose()

    async def get_json(self, path: str, params: dict[str, Any] | None = None) -> Any:
        """GET ``path`` and return its JSON body, or raise one of the package's errors."""
        where = "the inventory service"
        try:
            response = await self._client.get(path, params=params)
        except httpx.TimeoutException as exc:
            log.warning("inventory service at %s did not answer GET %s in time", self.base_url, path)
            raise UpstreamUnavailable(f"{where} did not answer GET {path} in time",
                                      details={"dependency": "inventory", "path": path}) from exc
        except httpx.HTTPError as exc:
            log.warning("inventory service at %s is unreachable: %s: %s", self.base_url,
                        exc.__class__.__name__, exc)
            raise UpstreamUnavailable(f"{where} is unreachable",
                                      details={"dependency": "inventory", "path": path}) from exc
        details = {"dependency": "inventory", "path": path, "status": response.status_code}
        if response.status_code >= 400:
            log.warning("inventory service at %s answered %s to GET %s: %s", self.base_url,
                        response.status_code, path, response.text[:300])
        if response.status_code >= 500:
            raise UpstreamUnavailable(f"{where} answered {response.status_code} to GET {path}", details=details)
        if response.status_code >= 400:
            raise UpstreamContractError(f"{where} refused GET {path} with {response.status_code}",
                                        details=details)
        try:
            return response.json()
        except ValueError as exc:
            raise UpstreamContractError(f"{where} sent a body that is not JSON for GET {path}",
                                        details=details) from exc

    async def get_all(self, path: str, params: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        """Every item of a cursor-paginated list (``{"items", "next_cursor"}``)."""
        query: dict[str, Any] = {k: v for k, v in (params or {}).items() if v is not None}
        query["limit"] = self.page_size
        items: list[dict[str, Any]] = []
        seen: set[str] = set()
        for _ in range(MAX_PAGES):
            page = await self.get_json(path, query)
            if not isinstance(page, dict) or not isinstance(page.get("items"), list):
                raise UpstreamContractError(f"GET {path} on the inventory service did not return {{items: [...]}}",
                                            details={"dependency": "inventory", "path": path})
            items.extend(page["items"])
            cursor = page.get("next_cursor")
            if not cursor:
                return items
            if cursor in seen:
                raise UpstreamContractError(f"GET {path} on the inventory service repeated a cursor",
                                            details={"dependency": "inventory", "path": path})
            seen.add(cursor)
            query["cursor"] = cursor
        raise UpstreamContractError(f"GET {path} on the inventory service did not end after {MAX_PAGES} pages",
                                    details={"dependency": "inventory", "path": path})

    async def skus(self) -> list[dict[str, Any]]:
        return await self.get_all("/skus")

    async def levels(self) -> list[dict[str, Any]]:
        return await self.get_all("/levels")

    async def movements(self, *, since: str, until: str | None = None) -> list[dict[str, Any]]:
        return await self.get_all("/movements", {"since": since, "until": until})

    async def demand_history(self, *, start: str, end: str) -> list[dict[str, Any]]:
        """Weekly demand between ``start`` and ``end`` (ISO dates), asked only for the days the inventory
        service keeps (``LEDGER_DAYS``, docs/CONTRACTS.md): weeks outside them have no sales to report."""
        start, end = max(start, LEDGER_DAYS[0]), min(end, LEDGER_DAYS[1])
        if start > end:
            return []
        body = await self.get_json("/demand-history", {"freq": "W", "start": start, "end": end})
        if not isinstance(body, dict) or not isinstance(body.get("items"), list):
            raise UpstreamContractError("GET /demand-history on the inventory service did not return {items: [...]}",
                                        details={"dependency": "inventory", "path": "/demand-history"})
        return list(body["items"])

    async def health(self) -> dict[str, Any]:
        """The inventory dependency as ``/health`` reports it: ``status`` is ok, degraded or down."""
        report: dict[str, Any] = {"url": self.base_url}
        try:
            response = await self._client.get("/health", timeout=HEALTH_TIMEOUT)
        except httpx.HTTPError as exc:
            return {**report, "status": "down", "detail": f"unreachable: {exc.__class__.__name__}: {exc}"}
        try:
            body = response.json()
        except ValueError:
            body = {}
        upstream = body.get("status") if isinstance(body, dict) else None
        if response.status_code == 200 and upstream in ("ok", "degraded"):
            return {**report, "status": upstream}
        return {**report, "status": "down",
                "detail": f"inventory /health answered {response.status_code} with status {upstream!r}"}
