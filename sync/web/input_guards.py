"""Guards against hostile input that every service gets from ``create_service_app``.

* ``DuplicateKeyGuard``: a JSON body with the same key twice in one object (``{"quantity": -5,
  "quantity": 1}``) is refused with 422 naming the key. Python's ``json`` keeps the last value, so a
  proxy or validator reading the first would see a different request from the service. Also 422: a
  body that is not UTF-8, nested too deeply (a ``RecursionError``, was a 500) or with a number too long.
* ``NulGuard``: a NUL character in the path or a query parameter (``/skus/A%00B``, ``?sku=%00``) is
  refused with 422 naming the parameter; PostgreSQL refuses NUL in text, which would be a 500.
* ``utf8_header``: a header value as the client sent it, decoded as UTF-8 (HTTP hands the bytes over as
  latin-1); bytes that are not UTF-8 or control characters are refused with 422 naming the header.
* ``check_idempotency_key``: an ``Idempotency-Key`` header of 1-255 printable characters, else 422 naming it
  (the services that take the header share this rule).
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qsl

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from sync.errors import ValidationFailed
from sync.web.errors import error_response

_BODY_METHODS = {"POST", "PUT", "PATCH", "DELETE"}


class _DuplicateKey(ValueError):
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    seen: dict[str, Any] = {}
    for key, value in pairs:
        if key in seen:
            raise _DuplicateKey(key)
        seen[key] = value
    return seen


_DECODER = json.JSONDecoder(object_pairs_hook=_no_duplicates)


def body_problem(body: bytes) -> tuple[str, str, str] | None:
    """``(field, problem, message)`` for a JSON body the services refuse before FastAPI parses it: a key
    twice in one object, text that is not UTF-8, nesting too deep for the parser, a number too long.
    None when the body is fine, or is not JSON at all (FastAPI answers that with its own 422)."""
    try:  # what json.loads(body, object_pairs_hook=...) does, without building a decoder per request
        _DECODER.decode(body.decode(json.detect_encoding(body), "surrogatepass"))
    except _DuplicateKey as exc:
        return exc.key, "duplicate key", f"invalid request: {exc.key}: the key appears twice in one JSON object"
    except json.JSONDecodeError:
        return None
    except UnicodeDecodeError:
        return "body", "not UTF-8", "invalid request: body: the JSON text is not UTF-8"
    except RecursionError:
        return "body", "nested too deeply", "invalid request: body: JSON nested too deeply"
    except ValueError as exc:  # e.g. an integer literal longer than Python converts
        return "body", "unreadable value", f"invalid request: body: {str(exc)[:200]}"
    return None


def _is_json(scope: Scope) -> bool:
    headers: list[tuple[bytes, bytes]] = scope.get("headers", [])
    for name, value in headers:
        if name == b"content-type":
            kind = value.split(b";")[0].strip().lower()
            return kind == b"application/json" or kind.endswith(b"+json")
    return False


class DuplicateKeyGuard:
    """Reads a JSON request body (already bounded by ``BodySizeLimit``, which sits outside), refuses it
    with 422 when an object repeats a key, else hands the same bytes to the app."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in _BODY_METHODS or not _is_json(scope):
            await self.app(scope, receive, send)
            return
        parts: list[bytes] = []
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client went away: let the app see that
                await self.app(scope, _replay([message], receive), send)
                return
            parts.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        body = b"".join(parts)
        problem = body_problem(body) if body else None
        if problem is not None:
            await _refuse(scope, receive, send, *problem)
            return
        await self.app(scope, _replay([{"type": "http.request", "body": body, "more_body": False}], receive), send)


def _replay(messages: list[Message], receive: Receive) -> Receive:
    queue = list(messages)

    async def replayed() -> Message:
        if queue:
            return queue.pop(0)
        return await receive()

    return replayed


async def _refuse(scope: Scope, receive: Receive, send: Send, field: str, problem: str, message: str) -> None:
    """422 naming ``field``, in the shape FastAPI's own validation errors have (``{field, problem, type}``)."""
    refusal = ValidationFailed(message, details=[
        {"field": field, "problem": problem, "type": problem.replace(" ", "_").lower()}])
    await error_response(refusal)(scope, receive, send)


class NulGuard:
    """Refuses a request whose path or query string carries a NUL character (raw or ``%00``)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            field = _nul_field(scope)
            if field is not None:
                await _refuse(scope, receive, send, field, "NUL character",
                              f"invalid request: {field}: must not contain a NUL character")
                return
        await self.app(scope, receive, send)


def _nul_field(scope: Scope) -> str | None:
    if "\x00" in scope.get("path", ""):
        return "path"
    query: bytes = scope.get("query_string", b"")
    if b"\x00" in query or b"%00" in query:
        for name, value in parse_qsl(query.decode("latin-1"), keep_blank_values=True):
            if "\x00" in name or "\x00" in value:
                return f"query.{name.replace(chr(0), '')}"
        return "query"
    return None


def utf8_header(value: str | None) -> str | None:
    """A header value re-read as UTF-8 (Starlette decodes header bytes as latin-1).

    Raises ``ValueError`` (a 422 naming the header when used as a FastAPI validator) for bytes that are
    not UTF-8 or for control characters.
    """
    if value is None:
        return None
    try:
        text = value.encode("latin-1").decode("utf-8")
    except (UnicodeEncodeError, UnicodeDecodeError) as exc:
        raise ValueError("must be UTF-8 text") from exc
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in text):
        raise ValueError("must not contain control characters")
    return text


MAX_IDEMPOTENCY_KEY_LENGTH = 255


def check_idempotency_key(key: str | None) -> str | None:
    """``key`` when it is a usable ``Idempotency-Key`` (or None when the header is absent), else 422."""
    if key is None:
        return None
    if not key or len(key) > MAX_IDEMPOTENCY_KEY_LENGTH or not key.isprintable():
        raise ValidationFailed(
            f"Idempotency-Key header must be 1-{MAX_IDEMPOTENCY_KEY_LENGTH} printable characters",
            details=[{"field": "Idempotency-Key", "problem": "invalid value"}])
    return key
