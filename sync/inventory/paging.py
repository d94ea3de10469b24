"""Cursor pagination, the one way every inventory list answers: ``{"items", "next_cursor"}``.

A list query asks for ``limit + 1`` rows: the extra row only says that another page follows, so it is
never serialized (for suppliers that is a query per row). ``next_cursor`` is what the last item is
ordered by, and null on the last page.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from sync.errors import ValidationFailed
from sync.inventory.db import read_conn

R = TypeVar("R")


def page(rows: Sequence[R], limit: int, out: Callable[[R], dict[str, Any]],
         cursor: Callable[[R], object]) -> dict[str, Any]:
    """The first ``limit`` of ``rows`` through ``out``; ``cursor`` of the last of them when more follow."""
    shown = rows[:limit]
    return {"items": [out(r) for r in shown],
            "next_cursor": str(cursor(shown[-1])) if len(rows) > limit and shown else None}


def int_cursor(cursor: str | None) -> int:
    """A numeric cursor (an id) as a list returned it; 0 for none. Anything else is a 422."""
    if cursor is None:
        return 0
    try:
        return int(cursor)
    except ValueError:
        raise ValidationFailed("cursor: not a cursor this endpoint returned",
                               details=[{"field": "cursor", "problem": "invalid cursor"}]) from None


def by_code(engine: Engine, table: sa.Table, limit: int, cursor: str | None,
            out: Callable[[Connection, Any], dict[str, Any]]) -> dict[str, Any]:
    """A page of a table whose rows clients name by a unique ``code`` (SKUs, locations, suppliers), in
    code order; the cursor is the last code."""
    query = sa.select(table).order_by(table.c.code).limit(limit + 1)
    if cursor:
        query = query.where(table.c.code > cursor)
    with read_conn(engine) as conn:
        rows = list(conn.execute(query))
        return page(rows, limit, lambda r: out(conn, r), lambda r: r.code)
