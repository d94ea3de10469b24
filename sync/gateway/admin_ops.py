"""Admin routes for run-time operations: deregistration, per-service policies, debug mode.

``DELETE /services/{service}/{instance}`` removes an instance (on every process sharing Redis);
``PUT /services/{service}/policy`` sets sticky sessions and the fallback's maximum age;
``GET``/``PUT /debug`` reads and switches debug mode. Changing anything needs the admin check.
"""

# No ``from __future__ import annotations``: FastAPI must see the auth dependencies passed to install().
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI, Request
from pydantic import BaseModel, ConfigDict, Field, StrictBool, field_validator

from sync.errors import NotFound, ValidationFailed
from sync.gateway.affinity import Affinity
from sync.gateway.registry import ServicePolicy, check_service_name

if TYPE_CHECKING:
    from sync.gateway.gateway import APIGateway


class PolicyBody(BaseModel):
    """Per-service options; a field left out (or null) is off / follows the gateway's setting."""

    model_config = ConfigDict(extra="forbid")

    affinity: str | None = Field(None, max_length=200, description="`header:NAME` or `cookie:NAME`: sticky sessions")
    fallback_max_age: float | None = Field(
        None, ge=0, le=86_400, description="Seconds a kept GET/HEAD answer may serve when no instance can; "
        "0: off; null: GATEWAY_FALLBACK_MAX_AGE")

    @field_validator("affinity")
    @classmethod
    def _affinity(cls, value: str | None) -> str | None:
        if value is not None:
            Affinity.parse(value)
        return value


class DebugBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    enabled: StrictBool


def install(app: FastAPI, gateway_of: Any, reader: Any, admin: Any) -> None:
    """Add the routes to the gateway's admin app (``reader``/``admin``: its auth dependencies)."""

    def gw(request: Request) -> "APIGateway":
        return gateway_of(request)  # type: ignore[no-any-return]

    @app.delete("/services/{service_name}/{instance}", summary="Deregister an instance")
    async def deregister(request: Request, service_name: str, instance: str, _: admin) -> dict[str, Any]:
        if not await gw(request).deregister(service_name, instance):
            raise NotFound(f"service {service_name!r} has no instance {instance!r}",
                           details={"service": service_name, "instance": instance})
        return {"service": service_name, "instance": instance, "deregistered": True}

    @app.put("/services/{service_name}/policy", summary="Sticky sessions and fallback age of a service")
    async def set_policy(request: Request, service_name: str, body: PolicyBody, _: admin) -> dict[str, Any]:
        try:
            check_service_name(service_name)
        except ValueError as exc:
            raise ValidationFailed(str(exc), details=[{"field": "service_name", "problem": str(exc)}]) from exc
        policy = ServicePolicy(Affinity.parse(body.affinity) if body.affinity else None, body.fallback_max_age)
        await gw(request).set_policy(service_name, policy)
        return {"service": service_name, "policy": policy.to_dict()}

    @app.get("/services/{service_name}/policy", summary="A service's sticky sessions and fallback age")
    async def get_policy(request: Request, service_name: str, _: reader) -> dict[str, Any]:
        g = gw(request)
        await g.refresh_shared()
        policy = g.registry.policy(service_name) or ServicePolicy()
        return {"service": service_name, "policy": policy.to_dict(),
                "fallback_default_max_age": g.settings.GATEWAY_FALLBACK_MAX_AGE}

    @app.get("/debug", summary="Whether debug mode is on")
    async def get_debug(request: Request, _: reader) -> dict[str, Any]:
        return {"enabled": gw(request).debug_mode}

    @app.put("/debug", summary="Switch debug mode (every routing decision logged)")
    async def put_debug(request: Request, body: DebugBody, _: admin) -> dict[str, Any]:
        g = gw(request)
        g.debug_mode = body.enabled
        return {"enabled": g.debug_mode}
