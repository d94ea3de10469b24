"""GET /classification: ABC by annual consumption value, XYZ by weekly demand variability, the matrix."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query
from starlette.concurrency import run_in_threadpool

from sync.analytics.classification import abc_xyz_matrix, classify
from sync.analytics.deps import AsOf, Limit, Offset, SourceDep, require_increasing
from sync.analytics.schemas import ERROR_RESPONSES, Classification, Thresholds
from sync.analytics.serialize import records

router = APIRouter(tags=["classification"], responses=ERROR_RESPONSES)

Share = Annotated[float, Query(gt=0, lt=1)]
CV = Annotated[float, Query(gt=0, le=100)]


@router.get("/classification", response_model=Classification, response_model_by_alias=True)
async def classification(
    source: SourceDep,
    weeks: Annotated[int, Query(ge=4, le=520, description="Full weeks of demand history used.")] = 52,
    as_of: AsOf = None,
    a_share: Share = 0.80,
    b_share: Share = 0.95,
    x_max: CV = 0.5,
    y_max: CV = 1.0,
    abc: Annotated[Literal["A", "B", "C"] | None, Query(description="Keep only this ABC class.")] = None,
    xyz: Annotated[Literal["X", "Y", "Z"] | None, Query(description="Keep only this XYZ class.")] = None,
    limit: Limit = 1000,
    offset: Offset = 0,
) -> Classification:
    """Defaults: A = first 80 % of value, B = next 15 %, C = last 5 %; X: CV <= 0.5, Y: <= 1.0, Z above."""
    require_increasing("a_share", a_share, "b_share", b_share)
    require_increasing("x_max", x_max, "y_max", y_max)
    data = await source.demand(weeks=weeks, as_of=as_of)

    def compute() -> Classification:
        table = classify(data.skus, data.weekly, a_share=a_share, b_share=b_share, x_max=x_max, y_max=y_max)
        matrix = abc_xyz_matrix(table)
        if abc:
            table = table.loc[table["abc"] == abc]
        if xyz:
            table = table.loc[table["xyz"] == xyz]
        calendar = data.weekly.columns
        return Classification(
            as_of=data.as_of, weeks=weeks, first_week_end=calendar[0].date(),
            last_week_end=calendar[-1].date(),
            thresholds=Thresholds(a_share=a_share, b_share=b_share, x_max=x_max, y_max=y_max),
            matrix=matrix,
            total=len(table), items=records(table.iloc[offset:offset + limit]),
        )

    return await run_in_threadpool(compute)
