"""Pieces every FastAPI service shares: the app base, error handlers, health, serving."""

from sync.web.app import create_service_app, require_admin
from sync.web.server import serve

__all__ = ["create_service_app", "require_admin", "serve"]
