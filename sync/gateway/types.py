"""ASGI types shared by every gateway stage (error answers are ``sync.web.errors.error_response``)."""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["ASGIApp", "Headers", "Message", "Receive", "Scope", "Send"]

Headers = list[tuple[bytes, bytes]]

