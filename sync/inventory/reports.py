"""Derived views over the ledger: reconciliation (cached levels against ledger sums) and demand history."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from sync.errors import ValidationFailed
from sync.inventory.catalog import Catalog
from sync.inventory.db import read_conn
from sync.inventory.tables import Stamp, locations, movements, reservations, skus, stock_levels

FREQS = {"W": "W-SUN", "W-SUN": "W-SUN", "D": "D", "M": "ME", "ME": "ME"}
_PERIOD_SQL = {  # period-end date of a timestamp, per dialect and frequency
    ("postgresql", "W-SUN"): "(date_trunc('week', m.created_at AT TIME ZONE 'UTC') + interval '6 days')::date",
    ("postgresql", "D"): "(m.created_at AT TIME ZONE 'UTC')::date",
    ("postgresql", "ME"): "(date_trunc('month', m.created_at AT TIME ZONE 'UTC') + interval '1 month - 1 day')::date",
    ("sqlite", "W-SUN"): "date(m.created_at, 'weekday 0')",
    ("sqlite", "D"): "date(m.created_at)",
    ("sqlite", "ME"): "date(m.created_at, 'start of month', '+1 month', '-1 day')",
}


def reconciliation(engine: Engine) -> dict[str, Any]:
    """Every cached level against the sum of its ledger rows and of its active reservations."""
    lv, m, r = stock_levels.c, movements.c, reservations.c
    ledger = sa.select(m.sku_id, m.location_id, sa.func.sum(m.quantity).label("total")).group_by(
        m.sku_id, m.location_id).subquery()
    held = (sa.select(r.sku_id, r.location_id, sa.func.sum(r.quantity).label("total"))
            .where(r.status == "active").group_by(r.sku_id, r.location_id).subquery())
    ledger_total = sa.func.coalesce(ledger.c.total, 0)
    held_total = sa.func.coalesce(held.c.total, 0)
    query = (
        sa.select(skus.c.code.label("sku"), locations.c.code.label("location"), locations.c.allow_negative,
                  lv.on_hand, lv.reserved, ledger_total.label("ledger_on_hand"), held_total.label("held"))
        .join(skus, skus.c.id == lv.sku_id).join(locations, locations.c.id == lv.location_id)
        .outerjoin(ledger, sa.and_(ledger.c.sku_id == lv.sku_id, ledger.c.location_id == lv.location_id))
        .outerjoin(held, sa.and_(held.c.sku_id == lv.sku_id, held.c.location_id == lv.location_id))
    )
    orphans = (sa.select(sa.func.count()).select_from(ledger).outerjoin(
        stock_levels, sa.and_(lv.sku_id == ledger.c.sku_id, lv.location_id == ledger.c.location_id))
        .where(lv.id.is_(None)))
    drift, negative, checked = [], [], 0
    with read_conn(engine) as conn:
        for row in conn.execute(query):
            checked += 1
            if row.on_hand != row.ledger_on_hand or row.reserved != row.held:
                drift.append({"sku": row.sku, "location": row.location, "on_hand": int(row.on_hand),
                              "ledger_on_hand": int(row.ledger_on_hand), "reserved": int(row.reserved),
                              "active_reservations": int(row.held)})
            if row.on_hand - row.reserved < 0 and not row.allow_negative:
                negative.append({"sku": row.sku, "location": row.location,
                                 "available": int(row.on_hand - row.reserved)})
        ledger_without_level = int(conn.execute(orphans).scalar_one())
    return {"checked": checked, "drift": drift, "negative_available": negative,
            "ledger_without_level": ledger_without_level,
            "ok": not drift and not negative and not ledger_without_level}


MAX_PERIODS = 3660  # ten years of days, seventy of weeks: a wider range is refused, not built in memory


def _periods(start: date, end: date, freq: str) -> list[date]:
    count = {"D": (end - start).days + 1, "W-SUN": (end - start).days // 7 + 1}.get(
        freq, (end.year - start.year) * 12 + end.month - start.month + 1)
    if count > MAX_PERIODS:
        raise ValidationFailed(
            f"start..end: {count} periods of {freq}, more than {MAX_PERIODS}: "
            "ask for a shorter range or a coarser freq",
            details=[{"field": "start", "problem": f"range over {MAX_PERIODS} periods"}])
    return [ts.date() for ts in pd.date_range(start, end, freq=freq)]


def _period_end(day: date, freq: str) -> date:
    if freq == "D":
        return day
    if freq == "W-SUN":
        return day + timedelta(days=6 - day.weekday())
    month_end: date = (pd.Timestamp(day) + pd.offsets.MonthEnd(0)).date()
    return month_end


def demand_history(engine: Engine, catalog: Catalog, *, sku: str | None, freq: str, start: date | None,
                   end: date | None) -> dict[str, Any]:
    """Units shipped net of returns per SKU and period (period-end dates), zeros included, and ``orders``:
    the distinct shipment references (an invoice or order number; a shipment without one counts alone)
    in the period, which the forecaster uses to tell a one-off bulk order from broad demand.

    Every SKU gets every period from ``start`` (default: the period of the first shipment of the SKUs
    asked for) to ``end`` (default: the period of the last one), so series line up for the ML service.
    """
    pandas_freq = FREQS.get(freq.upper())
    if pandas_freq is None:
        raise ValidationFailed(f"freq: must be one of {sorted(FREQS)}",
                               details=[{"field": "freq", "problem": "unsupported frequency"}])
    if start and end and end < start:
        raise ValidationFailed("end: must not be before start", details=[{"field": "end", "problem": "before start"}])
    period = _PERIOD_SQL[(engine.dialect.name, pandas_freq)]
    where = ["m.type IN ('shipment', 'return')"]
    params: dict[str, Any] = {}
    if sku is not None:
        catalog.sku(sku)
        where.append("s.code = :sku")
        params["sku"] = sku
    if start is not None:
        where.append("m.created_at >= :start")
        params["start"] = datetime.combine(start, time(), UTC)
    if end is not None:
        where.append("m.created_at < :end")
        params["end"] = datetime.combine(end + timedelta(days=1), time(), UTC)
    orders = ("COUNT(DISTINCT CASE WHEN m.type = 'shipment' "
              "THEN COALESCE(m.reference, 'movement:' || CAST(m.id AS VARCHAR(20))) END)")
    sql = (f"SELECT s.code AS sku, {period} AS period, SUM(-m.quantity) AS qty, {orders} AS orders "  # noqa: S608
           f"FROM movements m JOIN skus s ON s.id = m.sku_id WHERE {' AND '.join(where)} GROUP BY s.code, period")
    query = sa.text(sql).bindparams(*(sa.bindparam(name, type_=Stamp) for name in ("start", "end") if name in params))
    all_skus = sa.select(skus.c.code).order_by(skus.c.code)
    if sku is not None:
        all_skus = all_skus.where(skus.c.code == sku)
    totals: dict[str, dict[date, tuple[int, int]]] = defaultdict(dict)
    with read_conn(engine) as conn:
        codes = [r.code for r in conn.execute(all_skus)]
        for row in conn.execute(query, params):
            day = row.period if isinstance(row.period, date) else date.fromisoformat(str(row.period))
            totals[row.sku][day] = (int(row.qty), int(row.orders))
    seen = [d for series in totals.values() for d in series]
    first = _period_end(start, pandas_freq) if start else (min(seen) if seen else None)
    last = _period_end(end, pandas_freq) if end else (max(seen) if seen else None)
    items: list[dict[str, Any]] = []
    if first is not None and last is not None:
        periods = _periods(first, last, pandas_freq)
        for code in codes:
            series = totals.get(code, {})
            for d in periods:
                qty, count = series.get(d, (0, 0))
                items.append({"sku": code, "date": d.isoformat(), "quantity": qty, "orders": count})
    return {"freq": "M" if pandas_freq == "ME" else pandas_freq, "items": items}
