"""Shared route dependencies and query parameters, as ``Annotated`` aliases."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import Depends, Query, Request

from sync.analytics.source import InventorySource
from sync.errors import ValidationFailed


def get_source(request: Request) -> InventorySource:
    source: InventorySource = request.app.state.source
    return source


SourceDep = Annotated[InventorySource, Depends(get_source)]
WindowDays = Annotated[int, Query(ge=1, le=3650, description="Days of history demand and turnover cover.")]
AsOf = Annotated[datetime | None, Query(description="End of the window, ISO 8601 (naive = UTC). Default: now.")]
SlowDays = Annotated[float, Query(gt=0, le=36500, description="Days of supply above which stock is slow.")]
Limit = Annotated[int, Query(ge=1, le=10000, description="Items per page.")]
Offset = Annotated[int, Query(ge=0, description="Items to skip.")]


def require_increasing(low_name: str, low: float, high_name: str, high: float) -> None:
    """A 422 naming both fields when a pair of thresholds is not strictly increasing."""
    if not low < high:
        raise ValidationFailed(
            f"invalid request: {high_name} ({high}) must be greater than {low_name} ({low})",
            details=[{"field": high_name, "problem": f"must be greater than {low_name}"}],
        )
