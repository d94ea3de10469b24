"""One real stack for the dashboard's browser tests and the CLI's tests: JWT on, demo data loaded.

Package-scoped, so both modules share it (starting the four services costs most of the time).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt
import pytest
import requests

from sync.gateway.auth import issue_token
from tests.stack import Stack, running_stack

SECRET = "ui-tests-secret-of-at-least-32-bytes!"


@dataclass
class UiStack:
    stack: Stack
    token: str  # admin scope, one hour

    @property
    def base(self) -> str:
        return self.stack.base

    def api(self, method: str, path: str, **kwargs: Any) -> Any:
        resp = requests.request(method, self.base + path, headers={"authorization": f"Bearer {self.token}"},
                                timeout=120, **kwargs)
        assert resp.status_code < 400, f"{method} {path}: {resp.status_code} {resp.text[:300]}"
        return resp.json()

    def on_hand(self, sku: str, location: str) -> float:
        items = self.api("GET", "/inventory/levels", params={"sku": sku, "location": location})["items"]
        return float(items[0]["on_hand"]) if items else 0.0

    def supplier(self, code: str) -> None:
        known = {s["code"] for s in self.api("GET", "/inventory/suppliers")["items"]}
        if code not in known:
            self.api("POST", "/inventory/suppliers",
                     json={"code": code, "name": f"Supplier {code}", "lead_time_days": 7})

    def draft_order(self, supplier: str, sku: str, quantity: int, location: str = "MAIN") -> dict[str, Any]:
        """A supplier (created once) and a draft order of one line with a reason, as the planner would write."""
        self.supplier(supplier)
        return self.api("POST", "/inventory/purchase-orders", json={
            "supplier": supplier, "location": location,
            "lines": [{"sku": sku, "quantity": quantity, "reason": {"text": f"test: order {quantity} of {sku}"}}]})


def expired_token() -> str:
    now = int(time.time())
    return jwt.encode({"sub": "planner", "scope": "admin", "iat": now - 7200, "nbf": now - 7200, "exp": now - 3600},
                      SECRET, algorithm="HS256")


@pytest.fixture(scope="package")
def ui_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[UiStack]:
    workdir: Path = tmp_path_factory.mktemp("ui-stack")
    env = {"JWT_SECRET": SECRET, "RATE_LIMIT_DEFAULT_PER_MINUTE": "20000", "RATE_LIMIT_DEFAULT_PER_HOUR": "200000",
           "LOG_LEVEL": "WARNING"}
    with running_stack(workdir, env, timeout=240) as stack:
        yield UiStack(stack=stack, token=issue_token(SECRET, "planner", ["admin"], ttl_seconds=3600))
