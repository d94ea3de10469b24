"""The one HTTP client for the inventory service, used by the analytics and ML services (docs/CONTRACTS.md).

Every call either service makes to the inventory service goes through :class:`InventoryClient`: the
weekly ``/demand-history``, the cursor-paginated lists (``/skus``, ``/levels``, ``/movements``,
``/suppliers``, ``/purchase-orders``), the ``/events`` outbox, ``/health``, and the writes a plan makes
(``PATCH /skus/{code}``, purchase-order drafts). Failures are translated here, at one boundary, the same
way for both services:

- the inventory service unreachable, not answering in time, or answering 5xx ->
  :class:`~sync.errors.UpstreamUnavailable` (503): an outage, try later;
- a 404 to a request about one SKU (or a 422 whose details name ``sku``) ->
  :class:`~sync.errors.NotFound` (404) naming the SKU;
- any other 4xx, a body that is not JSON or not the contract's shape -> :class:`UpstreamContractError`
  (502): the inventory service answered, but refused what we asked or broke the contract, which no retry
  fixes. (Before this module the ML service called these 503 too; analytics' 502 is the status its tests
  and OpenAPI document, so both services now answer it.)

No error names the inventory service's internal address or repeats its error text (a database message,
say): those go to the log, where the operator reads them.

The client is synchronous (``httpx.Client``, safe to share between threads): the ML service calls it from
worker threads and its learning thread; the analytics service, which is async, calls it through
``run_in_threadpool``, so there is one implementation of each call and of the translation.
"""

from __future__ import annotations

import logging
from collections.abc import Collection
from typing import Any, Self

import httpx

from sync.errors import NotFound, SyncError, UpstreamUnavailable
from sync.settings import Settings

log = logging.getLogger("sync.clients.inventory")

#: seconds a connection may take: the inventory service is local and connects fast or not at all
CONNECT_TIMEOUT = 2.0
HEALTH_TIMEOUT = 2.0
PAGE_SIZE = 1000
MAX_PAGES = 100_000
#: the days ``/demand-history`` answers for (its contract): what pandas and both databases can hold, with room
LEDGER_DAYS = ("1900-01-01", "2199-12-31")
WHERE = "the inventory service"


class UpstreamContractError(SyncError):
    """The inventory service answered, but not as the contract says (a 4xx to our request, bad JSON)."""

    status = 502
    code = "bad_gateway"


def _names_sku(response: httpx.Response) -> bool:
    """Whether a 4xx answer is the inventory's "unknown SKU" (a 404, or a 422 whose details name ``sku``)."""
    if response.status_code == 404:
        return True
    if response.status_code != 422:
        return False
    try:
        details: Any = response.json()["error"]["details"]
    except (ValueError, KeyError, TypeError):
        return False
    details = details if isinstance(details, list) else [details]
    return any(isinstance(d, dict) and d.get("field") == "sku" for d in details)


def _items(body: Any, what: str, path: str) -> list[dict[str, Any]]:
    if not isinstance(body, dict) or not isinstance(body.get("items"), list):
        raise UpstreamContractError(f"{what} on {WHERE} did not return {{items: [...]}}",
                                    details={"dependency": "inventory", "path": path})
    return list(body["items"])


class InventoryClient:
    """Calls to the inventory service with its failures translated (module docstring); close it when done."""

    def __init__(self, base_url: str, *, timeout: float, page_size: int = PAGE_SIZE,
                 transport: httpx.BaseTransport | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self.page_size = page_size
        self._client = httpx.Client(base_url=self.base_url, transport=transport,
                                    timeout=httpx.Timeout(timeout, connect=min(timeout, CONNECT_TIMEOUT)),
                                    headers={"accept": "application/json"})

    @classmethod
    def from_settings(cls, settings: Settings) -> InventoryClient:
        """The client at ``INVENTORY_URL`` with ``INVENTORY_TIMEOUT`` for each call."""
        return cls(settings.INVENTORY_URL, timeout=settings.INVENTORY_TIMEOUT)

    @property
    def timeout(self) -> httpx.Timeout:
        """What each call may wait for: ``timeout`` per step, connecting at most ``CONNECT_TIMEOUT``."""
        return self._client.timeout

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- the one boundary ---------------------------------------------------------------------
    def request(self, method: str, path: str, *, ok: Collection[int] = (200, 201), sku: str | None = None,
                **kwargs: Any) -> httpx.Response:
        """``method path`` with the answer's status in ``ok``, or one of the errors the module docstring
        lists; ``sku`` names the SKU the request is about, so a 404 becomes ``NotFound`` naming it."""
        call = f"{method} {path.split('?')[0]}"
        details: dict[str, Any] = {"dependency": "inventory", "path": path.split("?")[0]}
        try:
            response = self._client.request(method, path, **kwargs)
        except httpx.TimeoutException as exc:
            log.warning("inventory service at %s did not answer %s in time", self.base_url, call)
            raise UpstreamUnavailable(f"{WHERE} did not answer {call} in time", details=details) from exc
        except httpx.HTTPError as exc:
            log.warning("inventory service at %s is unreachable (%s): %s: %s", self.base_url, call,
                        exc.__class__.__name__, exc)
            raise UpstreamUnavailable(f"{WHERE} is unreachable ({call})", details=details) from exc
        if response.status_code in ok:
            return response
        log.warning("inventory service at %s answered %s to %s: %s", self.base_url, response.status_code, call,
                    response.text[:300])
        details["status"] = response.status_code
        if response.status_code >= 500:
            raise UpstreamUnavailable(f"{WHERE} answered {response.status_code} to {call}", details=details)
        if sku is not None and _names_sku(response):
            raise NotFound(f"inventory has no SKU {sku!r}", details={"field": "sku", "sku": sku})
        raise UpstreamContractError(f"{WHERE} refused {call} with {response.status_code}", details=details)

    def get_json(self, path: str, params: dict[str, Any] | None = None, *, sku: str | None = None) -> Any:
        """GET ``path`` and return its JSON body."""
        response = self.request("GET", path, ok=(200,), params=params, sku=sku)
        try:
            return response.json()
        except ValueError as exc:
            raise UpstreamContractError(f"{WHERE} sent a body that is not JSON for GET {path}",
                                        details={"dependency": "inventory", "path": path,
                                                 "status": response.status_code}) from exc

    def get_all(self, path: str, params: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        """Every item of a cursor-paginated list (``{"items", "next_cursor"}``), following the cursor to the end."""
        query: dict[str, Any] = {k: v for k, v in (params or {}).items() if v is not None}
        query["limit"] = self.page_size
        items: list[dict[str, Any]] = []
        seen: set[str] = set()
        for _ in range(MAX_PAGES):
            page = self.get_json(path, query)
            items.extend(_items(page, f"GET {path}", path))
            cursor = page.get("next_cursor")
            if not cursor:
                return items
            if cursor in seen:
                raise UpstreamContractError(f"GET {path} on {WHERE} repeated a cursor",
                                            details={"dependency": "inventory", "path": path})
            seen.add(cursor)
            query["cursor"] = cursor
        raise UpstreamContractError(f"GET {path} on {WHERE} did not end after {MAX_PAGES} pages",
                                    details={"dependency": "inventory", "path": path})

    # --- reads ------------------------------------------------------------------------------
    def skus(self) -> list[dict[str, Any]]:
        return self.get_all("/skus")

    def levels(self) -> list[dict[str, Any]]:
        return self.get_all("/levels")

    def suppliers(self) -> list[dict[str, Any]]:
        return self.get_all("/suppliers")

    def purchase_orders(self, *, status: str | None = None) -> list[dict[str, Any]]:
        return self.get_all("/purchase-orders", {"status": status})

    def movements(self, *, since: str, until: str | None = None) -> list[dict[str, Any]]:
        return self.get_all("/movements", {"since": since, "until": until})

    def demand_history(self, *, sku: str | None = None, start: str | None = None,
                       end: str | None = None) -> list[dict[str, Any]]:
        """Weekly demand rows (``sku``, ``date``, ``quantity``, ``orders``), of one SKU or all, between
        ``start`` and ``end`` (ISO dates; default: the whole ledger). Only days the inventory service keeps
        (``LEDGER_DAYS``) are asked for: weeks outside them have no sales to report. An unknown ``sku`` is
        ``NotFound`` naming it."""
        params: dict[str, str] = {"freq": "W"}
        if start is not None or end is not None:
            start, end = max(start or LEDGER_DAYS[0], LEDGER_DAYS[0]), min(end or LEDGER_DAYS[1], LEDGER_DAYS[1])
            if start > end:
                return []
            params |= {"start": start, "end": end}
        if sku:
            params["sku"] = sku
        return _items(self.get_json("/demand-history", params, sku=sku or None), "GET /demand-history",
                      "/demand-history")

    def events(self, *, after: int, limit: int) -> tuple[list[dict[str, Any]], int]:
        """The outbox's events after id ``after`` (at most ``limit``) and the id to ask after next."""
        body = self.get_json("/events", {"after": after, "limit": limit})
        items = _items(body, "GET /events", "/events")
        try:
            return items, int(body["next_after"])
        except (KeyError, TypeError, ValueError) as exc:
            raise UpstreamContractError(f"GET /events on {WHERE} did not return next_after",
                                        details={"dependency": "inventory", "path": "/events"}) from exc

    def health(self) -> dict[str, Any]:
        """The inventory dependency as ``/health`` reports it: ``status`` is ok, degraded or down."""
        report: dict[str, Any] = {"url": self.base_url}
        try:
            response = self._client.get("/health", timeout=HEALTH_TIMEOUT)
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
