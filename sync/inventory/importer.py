"""Bulk import of sales history (Online Retail II or the generic CSV) into the ledger, fast.

The whole file is one transaction: SKUs and locations it names are created, the affected level rows are
locked (``SELECT ... FOR UPDATE`` on PostgreSQL; SQLite's write lock covers the database), the movements
go in with ``COPY`` (PostgreSQL) or ``executemany`` (SQLite) with their running ``on_hand_after``, and
each level is set to its old value plus the file's net change. When the history would take a location
below zero (it starts from an empty warehouse), an ``opening_balance`` receipt just before the SKU's
first line brings in what it needs, so the ledger still sums to the level.

Events: one ``level.changed`` per affected level and one ``import.completed`` with the report; not one
``movement.created`` per imported line (followers read the movements from ``GET /movements``).
"""

from __future__ import annotations

import io
import json
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import numpy as np
import pandas as pd
import sqlalchemy as sa
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine

from sync.errors import ValidationFailed

if TYPE_CHECKING:
    import psycopg
from sync.inventory import csv_formats, migrate
from sync.inventory.compressed import verify_file
from sync.inventory.db import make_engine
from sync.inventory.events import event_row, write_events
from sync.inventory.serialize import level_out
from sync.inventory.sku_profile import profiles
from sync.inventory.tables import locations, skus, stock_levels

DEFAULT_LOCATION = "MAIN"
WRITE_BATCH = 50_000
MOVEMENT_COLUMNS = ["type", "sku_id", "location_id", "quantity", "on_hand_after", "reason", "reference", "actor",
                    "created_at"]


@dataclass
class ImportReport(csv_formats.LineCounts):
    """The line counts (every line lands in exactly one bucket) plus what the import wrote."""

    format: str = ""
    skus_created: int = 0
    locations_created: int = 0
    opening_receipts: int = 0
    movements_written: int = 0
    levels_updated: int = 0
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class _Progress:
    """A rich progress bar, or nothing."""

    def __init__(self, enabled: bool) -> None:
        self.bar = Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                            TimeElapsedColumn()) if enabled else None

    def __enter__(self) -> _Progress:
        if self.bar:
            self.bar.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.bar:
            self.bar.stop()

    def task(self, description: str, total: int | None = None) -> Any:
        return self.bar.add_task(description, total=total) if self.bar else None

    def advance(self, task: Any, amount: int) -> None:
        if self.bar:
            self.bar.advance(task, amount)


def import_transactions(path: str | Path, *, database_url: str, progress: bool = False,
                        location: str = DEFAULT_LOCATION, opening_balance: bool = True) -> ImportReport:
    """Import a sales-history CSV (plain, .gz, .xz or .zip) into the database at ``database_url``.

    Migrates the database first. ``location`` receives lines that name none (all Online Retail lines).
    Returns the report (also what ``POST /imports`` answers). Raises ``ValidationFailed`` for a file
    that is not one of the two formats, or is damaged (see ``compressed.verify_file``).
    """
    verify_file(path)  # a damaged .xz/.gz or a NUL byte refuses the file whole, before anything is parsed
    engine = make_engine(database_url, pool_size=1, max_overflow=0)
    try:
        migrate.upgrade(engine)
        report = import_file(engine, path, location=location, opening_balance=opening_balance, progress=progress)
        assert report is not None  # no guard, so never skipped
        return report
    finally:
        engine.dispose()


def read_movements(path: str | Path, location: str, report: ImportReport, bar: _Progress) -> pd.DataFrame:
    parts: list[pd.DataFrame] = []
    task = bar.task("reading lines")
    for fmt, chunk in csv_formats.read_chunks(path):
        report.format = fmt
        classify = csv_formats.classify_online_retail if fmt == "online_retail" else csv_formats.classify_generic
        parts.append(classify(chunk, report, location))
        bar.advance(task, len(chunk))
    moves = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()
    if moves.empty:  # a header alone, or every line refused or skipped: nothing to write, say why
        message = "the CSV file has a header but no lines" if report.lines == 0 else (
            f"no line of the CSV file can be imported ({report.rejected} refused, "
            f"{report.non_product} not products)")
        raise ValidationFailed(message, details=report.to_dict())
    for optional in ("reference", "name"):
        if optional not in moves:
            moves[optional] = None
    moves["created_at"] = pd.to_datetime(moves["created_at"], utc=True)
    return moves.sort_values(["created_at", "_line"], kind="stable", ignore_index=True)


def import_file(engine: Engine, path: str | Path, *, location: str = DEFAULT_LOCATION,
                opening_balance: bool = True, opening_buffer_weeks: float = 0.0, progress: bool = False,
                actor: str = "import", before_commit: Callable[[Connection, ImportReport], None] | None = None,
                end_before: datetime | None = None, guard: Callable[[Connection], bool] | None = None,
                ) -> ImportReport | None:
    """The import itself, on an engine the caller owns (the service's, or ``import_transactions``').

    ``before_commit`` runs inside the import's transaction (the endpoint stores its idempotency key there).
    ``end_before`` (the demo uses it) moves every date by whole weeks so the last line falls in the week
    before that moment: weekdays and week boundaries stay as in the file. ``guard`` runs first inside the
    import's transaction; when it returns False nothing is written and the result is None.
    """
    started = time.perf_counter()
    report = ImportReport()
    with _Progress(progress) as bar:
        moves = read_movements(path, location, report, bar)
        if end_before is not None:
            weeks = (end_before - moves["created_at"].max()).days // 7 - 1
            moves["created_at"] += pd.Timedelta(weeks=max(0, weeks))
        with engine.begin() as conn:
            if guard is not None and not guard(conn):
                return None
            _write(conn, moves, report, bar, opening_balance=opening_balance,
                   opening_buffer_weeks=opening_buffer_weeks, actor=actor)
            report.seconds = round(time.perf_counter() - started, 3)
            if before_commit is not None:
                before_commit(conn, report)
    return report


def _insert(conn: Connection, table: sa.Table) -> Any:
    return (postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert)(table)


def _ensure_catalog(conn: Connection, moves: pd.DataFrame, report: ImportReport) -> tuple[dict[str, int],
                                                                                         dict[str, tuple[int, bool]]]:
    wanted_locations = sorted(moves["location"].unique())
    have = {r.code for r in conn.execute(sa.select(locations.c.code).where(locations.c.code.in_(wanted_locations)))}
    now = datetime.now(UTC)
    new_locations = [{"code": c, "name": "Main warehouse" if c == DEFAULT_LOCATION else c, "allow_negative": False,
                      "created_at": now} for c in wanted_locations if c not in have]
    if new_locations:
        conn.execute(_insert(conn, locations).on_conflict_do_nothing(index_elements=["code"]), new_locations)
    report.locations_created = len(new_locations)
    wanted_skus = sorted(moves["sku"].unique())
    known = {r.code for r in conn.execute(sa.select(skus.c.code))}
    new_skus = profiles(moves, [c for c in wanted_skus if c not in known])
    if new_skus:
        conn.execute(_insert(conn, skus).on_conflict_do_nothing(index_elements=["code"]), new_skus)
    report.skus_created = len(new_skus)
    sku_ids = {r.code: int(r.id) for r in conn.execute(sa.select(skus.c.id, skus.c.code))}
    loc_ids = {r.code: (int(r.id), bool(r.allow_negative))
               for r in conn.execute(sa.select(locations.c.id, locations.c.code, locations.c.allow_negative))}
    return sku_ids, loc_ids


def _lock_levels(conn: Connection, pairs: pd.DataFrame) -> pd.DataFrame:
    """Make sure every affected level row exists, lock them in id order, return their current values."""
    now = datetime.now(UTC)
    rows = [{"sku_id": int(s), "location_id": int(loc), "on_hand": 0, "reserved": 0, "incoming": 0,
             "updated_at": now} for s, loc in zip(pairs["sku_id"], pairs["location_id"], strict=True)]
    conn.execute(_insert(conn, stock_levels).on_conflict_do_nothing(index_elements=["sku_id", "location_id"]), rows)
    lv = stock_levels.c
    wanted = [(int(s), int(loc)) for s, loc in zip(pairs["sku_id"], pairs["location_id"], strict=True)]
    # only the import's own levels: a movement elsewhere must not wait for the import to commit
    query = (sa.select(lv.id, lv.sku_id, lv.location_id, lv.on_hand, lv.reserved, lv.incoming)
             .where(sa.tuple_(lv.sku_id, lv.location_id).in_(wanted)).order_by(lv.id))
    if conn.dialect.name == "postgresql":
        query = query.with_for_update()
    current = pd.DataFrame(list(conn.execute(query)), columns=["level_id", "sku_id", "location_id", "on_hand",
                                                              "reserved", "incoming"])
    return pairs.merge(current, on=["sku_id", "location_id"], how="left")


def _write(conn: Connection, moves: pd.DataFrame, report: ImportReport, bar: _Progress, *, opening_balance: bool,
           opening_buffer_weeks: float, actor: str) -> None:
    sku_ids, loc_ids = _ensure_catalog(conn, moves, report)
    moves["sku_id"] = moves["sku"].map(sku_ids).astype(np.int64)
    moves["location_id"] = moves["location"].map(lambda c: loc_ids[c][0]).astype(np.int64)
    pairs = moves[["sku_id", "location_id"]].drop_duplicates().sort_values(["sku_id", "location_id"])
    levels = _lock_levels(conn, pairs)
    moves = _with_openings(moves, levels, loc_ids, report, opening_balance, opening_buffer_weeks)
    start = moves.merge(levels[["sku_id", "location_id", "on_hand"]], on=["sku_id", "location_id"], how="left")
    moves["on_hand_after"] = start["on_hand"].to_numpy() + moves.groupby(["sku_id", "location_id"])["delta"].cumsum()
    moves["actor"] = actor
    task = bar.task("writing movements", total=len(moves))
    _copy_movements(conn, moves, bar, task)
    report.movements_written = len(moves)
    _update_levels(conn, moves, levels, report)


def _with_openings(moves: pd.DataFrame, levels: pd.DataFrame, loc_ids: dict[str, tuple[int, bool]],
                   report: ImportReport, opening_balance: bool, buffer_weeks: float) -> pd.DataFrame:
    """Prepend an opening-balance receipt where the history would otherwise drive on_hand below zero."""
    if not opening_balance:
        return moves
    negative_ok = {loc_id for loc_id, allowed in loc_ids.values() if allowed}
    group = moves.groupby(["sku_id", "location_id"], sort=False)
    lowest = group["delta"].cumsum().groupby([moves["sku_id"], moves["location_id"]]).min()
    first = group["created_at"].min()
    span_weeks = max(1.0, (moves["created_at"].max() - moves["created_at"].min()).days / 7)
    shipped = (-moves.loc[moves["type"].isin(["shipment", "return"]), "delta"]).groupby(
        [moves["sku_id"], moves["location_id"]]).sum()
    current = levels.set_index(["sku_id", "location_id"])["on_hand"]
    openings = []
    for key, low in lowest.items():
        sku_id, location_id = key
        if location_id in negative_ok:
            continue
        need = max(0, -(int(current.get(key, 0)) + int(low)))
        need += math.ceil(buffer_weeks * max(0, int(shipped.get(key, 0))) / span_weeks)
        if need > 0:
            openings.append({"sku_id": sku_id, "location_id": location_id, "type": "receipt", "delta": need,
                             "reason": "opening_balance", "reference": "import:opening_balance",
                             "created_at": first[key] - timedelta(minutes=1), "_line": 0})
    report.opening_receipts = len(openings)
    if not openings:
        return moves
    combined = pd.concat([pd.DataFrame(openings), moves], ignore_index=True)
    return combined.sort_values(["created_at", "_line"], kind="stable", ignore_index=True)


def _stamps(created: pd.Series, suffix: str) -> list[str]:
    """UTC timestamps as ``YYYY-MM-DD HH:MM:SS.ffffff`` text (``dt.strftime`` is ten times slower)."""
    text = np.datetime_as_string(created.dt.tz_convert("UTC").dt.tz_localize(None).to_numpy(), unit="us")
    return [stamp.replace("T", " ") + suffix for stamp in text.tolist()]


def _copy_movements(conn: Connection, moves: pd.DataFrame, bar: _Progress, task: Any) -> None:
    out = moves[["type", "sku_id", "location_id", "delta", "on_hand_after", "reason", "reference", "actor",
                 "created_at"]].copy()
    out["reason"] = out["reason"].where(out["reason"].notna(), None)
    out["reference"] = out["reference"].where(out["reference"].notna(), None)
    raw = conn.connection.dbapi_connection
    assert raw is not None
    if conn.dialect.name == "postgresql":
        out["created_at"] = _stamps(out["created_at"], "+00")
        with cast("psycopg.Connection[Any]", raw).cursor() as cur, cur.copy(
                f"COPY movements ({', '.join(MOVEMENT_COLUMNS)}) FROM STDIN WITH (FORMAT csv)") as copy:
            for begin in range(0, len(out), WRITE_BATCH):
                buffer = io.StringIO()
                out.iloc[begin:begin + WRITE_BATCH].to_csv(buffer, header=False, index=False)
                copy.write(buffer.getvalue())
                bar.advance(task, min(WRITE_BATCH, len(out) - begin))
        return
    out["created_at"] = _stamps(out["created_at"], "")
    placeholders = ", ".join("?" * len(MOVEMENT_COLUMNS))
    sql = f"INSERT INTO movements ({', '.join(MOVEMENT_COLUMNS)}) VALUES ({placeholders})"  # noqa: S608
    rows = list(zip(*(out[c].tolist() for c in out.columns), strict=True))  # Python ints, strs and None
    cursor = raw.cursor()
    try:
        for begin in range(0, len(rows), WRITE_BATCH):
            part = rows[begin:begin + WRITE_BATCH]
            cursor.executemany(sql, part)
            bar.advance(task, len(part))
    finally:
        cursor.close()


def _update_levels(conn: Connection, moves: pd.DataFrame, levels: pd.DataFrame, report: ImportReport) -> None:
    net = moves.groupby(["sku_id", "location_id"])["delta"].sum().rename("net").reset_index()
    merged = levels.merge(net, on=["sku_id", "location_id"])
    now = datetime.now(UTC)
    lv = stock_levels.c
    stmt = (sa.update(stock_levels).where(lv.id == sa.bindparam("b_id"))
            .values(on_hand=lv.on_hand + sa.bindparam("b_net"), updated_at=now))
    conn.execute(stmt, [{"b_id": int(r.level_id), "b_net": int(r.net)} for r in merged.itertuples()])
    report.levels_updated = len(merged)
    codes = {int(r.id): r.code for r in conn.execute(sa.select(skus.c.id, skus.c.code))}
    loc_codes = {int(r.id): r.code for r in conn.execute(sa.select(locations.c.id, locations.c.code))}
    events = [event_row("level.changed", level_out(codes[int(r.sku_id)], loc_codes[int(r.location_id)],
                                                   int(r.on_hand + r.net), int(r.reserved), int(r.incoming), now)
                        | {"cause": {"type": "import", "net": int(r.net)}}, now) for r in merged.itertuples()]
    events.append(event_row("import.completed", json.loads(json.dumps(report.to_dict(), default=str)), now))
    write_events(conn, events)
