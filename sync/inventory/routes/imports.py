"""``POST /imports`` (filled in with the importer)."""

from fastapi import APIRouter

router = APIRouter(tags=["imports"])
