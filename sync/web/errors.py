"""Exception handlers that give every service the SPEC's JSON error shape and never a stack trace;
``error_response``, the answer to a :class:`~sync.errors.SyncError` for those handlers and for raw-ASGI
code outside them; and ``error_responses`` / ``document_error_responses``, which put that shape into the
OpenAPI document."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi import routing as fastapi_routing
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect

from sync.errors import SyncError, error_body

log = logging.getLogger("sync.web")

class ErrorDetail(BaseModel):
    code: str = Field(description="Machine-readable error code, e.g. `validation_error`, `conflict`.")
    message: str = Field(description="What went wrong, for a person.")
    details: Any = Field(None, description="Structured details: for 422 a list of `{field, problem, type}`.")


class ErrorResponse(BaseModel):
    """The one error shape of every service: ``{"error": {"code", "message", "details"}}``."""

    error: ErrorDetail


_DESCRIPTIONS = {
    400: "Malformed request (an unreadable body or header)",
    401: "No admin token was sent",
    403: "The token is not the admin token (or lacks the admin scope)",
    404: "Unknown resource",
    409: "Conflicts with the current state (short stock, a reused Idempotency-Key); nothing was written",
    413: "Request body over the size limit; nothing was read further",
    422: "Invalid input; `details` names each field and its problem; nothing was written",
    500: "Unexpected error (no internals are shown)",
    503: "A dependency (the database, an upstream service) is unavailable",
}


def error_responses(*statuses: int, descriptions: dict[int, str] | None = None) -> dict[int | str, dict[str, Any]]:
    """``responses=`` for a FastAPI route: each status documented with the shared error schema; a service may
    word a status its own way (``descriptions``)."""
    words = _DESCRIPTIONS | (descriptions or {})
    return {status: {"model": ErrorResponse, "description": words.get(status, "Error")} for status in statuses}


def route_contexts(app: FastAPI) -> list[Any]:
    """Every route of ``app``, included routers flattened (FastAPI >= 0.130 nests them)."""
    iterate = getattr(fastapi_routing, "iter_route_contexts", None)
    return list(iterate(app.routes)) if iterate is not None else list(app.routes)


def _is_admin_route(route: Any) -> bool:
    from sync.web.app import require_admin  # the admin dependency lives with the app factory

    original = getattr(route, "original_route", route)
    return isinstance(original, APIRoute) and any(
        dep.call is require_admin for dep in original.dependant.dependencies)


def document_error_responses(app: FastAPI, spec: dict[str, Any], *, reads: Iterable[int] = (404, 422, 500, 503),
                             writes: Iterable[int] = (400, 404, 409, 413, 422, 500, 503)) -> dict[str, Any]:
    """Add the error responses to every operation of ``spec`` (the app's OpenAPI document): ``reads``
    for GET, ``writes`` for the other methods, 401 and 403 for admin routes, each with the shared
    ``ErrorResponse`` schema. A route's own description of a status (``responses={409: {"description":
    ...}}``) is kept. Returns ``spec``.

    ``create_service_app`` applies it to the document it serves, so every service built on it gets the
    documented errors without calling it.
    """
    admin = {(getattr(r, "path_format", None), method) for r in route_contexts(app) if _is_admin_route(r)
             for method in (getattr(r, "methods", None) or ())}
    components = spec.setdefault("components", {}).setdefault("schemas", {})
    schema = ErrorResponse.model_json_schema(ref_template="#/components/schemas/{model}")
    components.update(schema.pop("$defs", {}))
    components["ErrorResponse"] = schema
    components.pop("HTTPValidationError", None)
    components.pop("ValidationError", None)
    content = {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorResponse"}}}
    for path, operations in spec.get("paths", {}).items():
        for method, operation in operations.items():
            statuses = set(reads if method in ("get", "head") else writes)
            if (path, method.upper()) in admin:
                statuses |= {401, 403}
            responses = operation.setdefault("responses", {})
            for status in sorted(statuses):
                own = responses.get(str(status), {})
                responses[str(status)] = {"description": own.get("description") or _DESCRIPTIONS[status],
                                          "content": content}
    return spec


def allowed_methods(request: Request) -> list[str]:
    """Every method some route of the app answers on this path (Starlette lists only the first route's)."""
    methods: set[str] = set()
    path = request.scope.get("path", "")
    for route in route_contexts(request.app):
        regex, route_methods = getattr(route, "path_regex", None), getattr(route, "methods", None)
        if regex is not None and route_methods and regex.match(path):
            methods |= set(route_methods)
    if "GET" in methods:
        methods.add("HEAD")
    return sorted(methods | {"OPTIONS"})


def error_response(exc: SyncError, extra_headers: Iterable[tuple[bytes, bytes]] = ()) -> JSONResponse:
    """The answer to ``exc``: its status, its body (:func:`~sync.errors.error_body`), its headers, then
    ``extra_headers`` (raw, as a stage that already added some to the request holds them).

    A response is also an ASGI app, so code that runs outside FastAPI's exception handlers (the body size
    limit, the input guards, the gateway's error stage) answers with ``await error_response(exc)(scope,
    receive, send)``.
    """
    response = JSONResponse(exc.to_dict(), status_code=exc.status, headers=exc.headers or None)
    response.raw_headers.extend(extra_headers)
    return response


def _field_errors(exc: RequestValidationError) -> list[dict[str, Any]]:
    """Pydantic errors as ``{field, problem}`` pairs; the input value is left out (it may be huge)."""
    out = []
    for err in exc.errors():
        loc = [str(part) for part in err.get("loc", ()) if part not in ("body",)]
        out.append({"field": ".".join(loc) or "body", "problem": err.get("msg", "invalid"), "type": err.get("type")})
    return out


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(SyncError)
    async def _sync_error(request: Request, exc: SyncError) -> JSONResponse:
        return error_response(exc)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        details = _field_errors(exc)
        summary = "; ".join(f"{d['field']}: {d['problem']}" for d in details[:5])
        return JSONResponse(error_body(422, f"invalid request: {summary}", details), status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> Response:
        headers = dict(exc.headers or {})
        if exc.status_code == 405:
            headers["Allow"] = ", ".join(allowed_methods(request))
            if request.method == "OPTIONS":  # what may I do here? answered, not refused
                return Response(status_code=204, headers=headers)
        message = exc.detail if isinstance(exc.detail, str) else "request failed"
        details = None if isinstance(exc.detail, str) else exc.detail
        return JSONResponse(error_body(exc.status_code, message, details), status_code=exc.status_code,
                            headers=headers or None)

    @app.exception_handler(ClientDisconnect)
    async def _gone(request: Request, exc: ClientDisconnect) -> JSONResponse:
        # the client left (or BodySizeLimit already answered 413): nobody reads this answer
        return JSONResponse(error_body(400, "the request body ended early"), status_code=400)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return JSONResponse(error_body(500, "internal server error"), status_code=500)
