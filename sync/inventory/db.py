"""Engine creation: the URL rewrite to psycopg 3, SQLite pragmas, and the one write-transaction helper.

SQLite serialises writers; we open write transactions with ``BEGIN IMMEDIATE`` so two writers never
both read and then fail to upgrade their lock (the classic SQLite deadlock), and set a busy timeout so
they queue instead of failing. PostgreSQL relies on the conditional ``UPDATE`` and row locks.
"""

from __future__ import annotations

import logging
import select
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DBAPIError, DisconnectionError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from sync.errors import UpstreamUnavailable

T = TypeVar("T")
RETRYABLE_PG_CODES = {"40P01", "40001"}  # deadlock detected, serialization failure
RETRY_AFTER_S = 1
CONNECT_TIMEOUT_S = 5
log = logging.getLogger("sync.inventory.db")


class DatabaseUnavailable(UpstreamUnavailable):
    """The inventory database cannot answer now: 503 with ``Retry-After`` (nothing was written)."""

    headers = {"Retry-After": str(RETRY_AFTER_S)}


def unavailable(exc: BaseException | None, message: str = "the inventory database is unavailable",
                ) -> DatabaseUnavailable:
    """The one translation of a database failure: one log line (no traceback), then a 503 to raise."""
    reason = str(getattr(exc, "orig", None) or exc or message).strip().splitlines()
    first = reason[0] if reason else message
    log.warning("%s: %s", message, first)
    return DatabaseUnavailable(message, details=first)


def socket_has_data(fileno: int) -> bool:
    """True when an idle connection's socket is readable: the server sent something unasked (a
    termination notice at shutdown) or closed it. No round trip, so it costs nothing per checkout."""
    try:
        readable, _, _ = select.select([fileno], [], [], 0)
    except (OSError, ValueError):
        return True
    return bool(readable)


def normalize_url(url: str) -> str:
    """Pick our drivers: ``postgresql://`` and ``postgres://`` become psycopg 3."""
    for prefix in ("postgresql://", "postgres://", "postgresql+psycopg2://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


def is_sqlite(engine_or_url: Engine | str) -> bool:
    url = engine_or_url if isinstance(engine_or_url, str) else str(engine_or_url.url)
    return url.startswith("sqlite")


def _prepare_sqlite_file(url: sa.URL) -> None:
    database = url.database
    if database and database != ":memory:" and not database.startswith("file:"):
        Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)


def make_engine(database_url: str, *, pool_size: int = 5, max_overflow: int = 15) -> Engine:
    """A pooled engine for the service (or the importer). Creates the SQLite file's folder if needed.

    Sized for one service process next to its 16 statement-pool connections (``store/pool.py``): at most 36
    PostgreSQL connections per process, within the default ``max_connections`` of 100.
    """
    url = sa.make_url(normalize_url(database_url))
    if url.get_backend_name() == "sqlite":
        _prepare_sqlite_file(url)
        engine = sa.create_engine(url, connect_args={"timeout": 30, "check_same_thread": False},
                                  pool_size=pool_size, max_overflow=max_overflow)
        _install_sqlite_hooks(engine)
        return engine
    engine = sa.create_engine(url, pool_size=pool_size, max_overflow=max_overflow, pool_pre_ping=False,
                              pool_recycle=1800, connect_args={"connect_timeout": CONNECT_TIMEOUT_S})
    _install_postgres_hooks(engine)
    return engine


def _install_postgres_hooks(engine: Engine) -> None:
    """Validate pooled connections at checkout: one the server closed (a restart) is replaced, not used.

    SQLAlchemy retries the checkout with a new connection on ``DisconnectionError``, and on a
    disconnect error during a statement it invalidates every connection the pool held before it.
    """
    @event.listens_for(engine, "checkout")
    def _on_checkout(dbapi_conn: Any, _record: Any, _proxy: Any) -> None:
        if dbapi_conn.closed or socket_has_data(dbapi_conn.fileno()):
            raise DisconnectionError("the server closed this pooled connection")


def _install_sqlite_hooks(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # we issue BEGIN ourselves
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        mode = conn.get_execution_options().get("sqlite_begin", "IMMEDIATE")
        conn.exec_driver_sql(f"BEGIN {mode}")


@contextmanager
def read_conn(engine: Engine) -> Iterator[Connection]:
    """A connection for reads (a deferred transaction on SQLite, so readers never queue behind writers)."""
    try:
        with engine.connect() as conn:
            if is_sqlite(engine):
                conn = conn.execution_options(sqlite_begin="DEFERRED")
            yield conn
    except DBAPIError as exc:
        if isinstance(exc, OperationalError) or exc.connection_invalidated:
            raise unavailable(exc) from exc
        raise
    except PoolTimeout as exc:
        raise unavailable(exc, "the inventory database is overloaded: no connection free in time") from exc


def _retryable(exc: DBAPIError) -> bool:
    code = getattr(exc.orig, "sqlstate", None)
    return code in RETRYABLE_PG_CODES


def write_tx(engine: Engine, work: Callable[[Connection], T], *, attempts: int = 5) -> T:
    """Run ``work`` in one write transaction; retry deadlocks and serialization failures.

    ``work`` must be safe to re-run (it is: a failed attempt rolled back everything it wrote).
    """
    for attempt in range(attempts):
        try:
            with engine.begin() as conn:
                return work(conn)
        except DBAPIError as exc:
            if _retryable(exc) and attempt + 1 < attempts:
                time.sleep(0.005 * (attempt + 1))
                continue
            if (isinstance(exc, OperationalError) or exc.connection_invalidated) and not _retryable(exc):
                raise unavailable(exc) from exc
            raise
        except PoolTimeout as exc:
            raise unavailable(exc, "the inventory database is overloaded: no connection free in time") from exc
    raise AssertionError("unreachable")
