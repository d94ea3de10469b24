"""ASGI types shared by every gateway stage, and the one helper that writes a JSON response."""

from __future__ import annotations

import json
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["ASGIApp", "Headers", "Message", "Receive", "Scope", "Send", "send_json"]

Headers = list[tuple[bytes, bytes]]


async def send_json(send: Send, status: int, payload: Any, headers: Headers | None = None) -> None:
    """Send a complete JSON response (used for errors and for the gateway's own short answers)."""
    body = json.dumps(payload, separators=(",", ":")).encode()
    out: Headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    if headers:
        out.extend(headers)
    await send({"type": "http.response.start", "status": status, "headers": out})
    await send({"type": "http.response.body", "body": body})
