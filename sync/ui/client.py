"""A small synchronous client of the gateway's public HTTP API, for the CLI's commands.

Every failure becomes one of two exceptions with a one-line message: :class:`StackDown` (nothing
answers at the URL, or it timed out) and :class:`ApiError` (the API answered an error; its
``{"error": {"code", "message", "details"}}`` body is kept).
"""

from __future__ import annotations

from typing import Any

import httpx


class ClientError(Exception):
    """Base of the CLI client's errors; ``str()`` is the one line to print."""


class StackDown(ClientError):
    """The gateway does not answer at all."""


class ApiError(ClientError):
    def __init__(self, status: int, code: str, message: str, details: Any = None, path: str = "") -> None:
        super().__init__(f"{path} answered {status} {code}: {message}" if path else message)
        self.status, self.code, self.message, self.details, self.path = status, code, message, details, path


class GatewayClient:
    def __init__(self, url: str, token: str | None = None, timeout: float = 30.0) -> None:
        self.url = url.rstrip("/")
        headers = {"accept": "application/json", "user-agent": "inventory-system-cli"}
        if token:
            headers["authorization"] = f"Bearer {token}"
        self._http = httpx.Client(base_url=self.url, headers=headers, timeout=timeout)

    def __enter__(self) -> GatewayClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def request(self, method: str, path: str, *, params: dict[str, Any] | None = None,
                json: Any = None, text: bool = False) -> Any:
        params = {k: v for k, v in (params or {}).items() if v is not None}
        try:
            resp = self._http.request(method, path, params=params or None, json=json)
        except httpx.TimeoutException as exc:
            raise StackDown(f"the gateway at {self.url} did not answer {method} {path} in time") from exc
        except httpx.HTTPError as exc:
            raise StackDown(f"the gateway at {self.url} is not reachable ({exc.__class__.__name__}: {exc}); "
                            "is the stack running? (inventory-system up)") from exc
        if resp.status_code >= 400:
            try:
                err = resp.json()["error"]
                code, message, details = str(err.get("code")), str(err.get("message")), err.get("details")
            except (ValueError, KeyError, TypeError, AttributeError):
                code, message, details = f"http_{resp.status_code}", resp.text[:200] or resp.reason_phrase, None
            raise ApiError(resp.status_code, code, message, details, f"{method} {path}")
        if text:
            return resp.text
        try:
            return resp.json()
        except ValueError as exc:
            raise ApiError(resp.status_code, "bad_response", "the answer is not JSON", None,
                           f"{method} {path}") from exc

    def get(self, path: str, **params: Any) -> Any:
        return self.request("GET", path, params=params)

    def post(self, path: str, json: Any = None) -> Any:
        return self.request("POST", path, json=json)

    def patch(self, path: str, json: Any) -> Any:
        return self.request("PATCH", path, json=json)
