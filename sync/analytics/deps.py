"""Shared route dependencies and query parameters, as ``Annotated`` aliases."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import Depends, Query, Request
from pydantic import AfterValidator

from sync.analytics.source import InventorySource
from sync.errors import ValidationFailed


async def get_source(request: Request) -> InventorySource:
    """Async: a plain ``def`` dependency would cost a threadpool hop on every request."""
    source: InventorySource = request.app.state.source
    return source


SourceDep = Annotated[InventorySource, Depends(get_source)]

#: The ``as_of`` moments a report can be computed for: far enough inside pandas' nanosecond range
#: (1677-09-21 to 2262-04-11) that the longest window or classification history still fits.
AS_OF_MIN = datetime(1900, 1, 1, tzinfo=UTC)
AS_OF_MAX = datetime(2200, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)


def _as_of_in_range(moment: datetime | None) -> datetime | None:
    if moment is None:
        return None
    aware = moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
    if not AS_OF_MIN <= aware <= AS_OF_MAX:
        raise ValueError(f"must be between {AS_OF_MIN.date()} and {AS_OF_MAX.date()} (UTC)")
    return moment

WindowDays = Annotated[int, Query(ge=1, le=3650, description="Days of history demand and turnover cover.")]
AsOf = Annotated[datetime | None, AfterValidator(_as_of_in_range),
                 Query(description="End of the window, ISO 8601 (naive = UTC), between 1900-01-01 and "
                                   "2200-12-31. Default: now.")]
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
