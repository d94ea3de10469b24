"""A small pool of autocommit ``psycopg.AsyncConnection``s for the single-statement store.

It validates before use and discards after an error, so a PostgreSQL restart costs no request:

- an idle connection is checked out only if it is healthy: open, idle, and its socket has nothing to
  read (a server that shut down sent a termination notice and closed it; no round trip needed);
- finding one dead, or a connection-level error on one in use, discards every idle connection (they
  all talked to the same server), and the next checkout opens a fresh one;
- every failure to connect or to talk to the server becomes a 503 with ``Retry-After``
  (``db.unavailable``: one log line, no traceback).

Checkouts are bounded by a semaphore, so a waiter never waits on a connection that was discarded.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import psycopg
from psycopg import pq

from sync.inventory.db import CONNECT_TIMEOUT_S, socket_has_data, unavailable

CONNECTION_LEVEL = ("08", "57P")  # connection exceptions; admin/crash shutdown, cannot connect now


def connection_lost(conn: psycopg.AsyncConnection[Any], exc: BaseException) -> bool:
    """True when ``exc`` means the connection (not only the statement) is gone."""
    if conn.closed or conn.broken or isinstance(exc, psycopg.InterfaceError):
        return True
    sqlstate = getattr(exc, "sqlstate", None) or ""
    return sqlstate.startswith(CONNECTION_LEVEL)


class AsyncPool:
    def __init__(self, dsn: str, size: int = 16) -> None:
        self.dsn = dsn
        self.size = size
        self._idle: list[psycopg.AsyncConnection[Any]] = []
        self._slots = asyncio.Semaphore(size)
        self.discarded = 0  # connections found dead or dropped after an error (tests and logs read it)

    @staticmethod
    def _reusable(conn: psycopg.AsyncConnection[Any]) -> bool:
        return not (conn.closed or conn.broken or conn.pgconn.transaction_status != pq.TransactionStatus.IDLE)

    def _healthy(self, conn: psycopg.AsyncConnection[Any]) -> bool:
        """Reusable, and nothing unasked on its socket (checked at checkout: it may have idled a while)."""
        return self._reusable(conn) and not socket_has_data(conn.pgconn.socket)

    async def _discard(self, conn: psycopg.AsyncConnection[Any]) -> None:
        self.discarded += 1
        with contextlib.suppress(Exception):
            await conn.close()

    async def discard_idle(self) -> None:
        """Close every idle connection (after one was found dead, the others are suspect too)."""
        idle, self._idle = self._idle, []
        for conn in idle:
            await self._discard(conn)

    async def _checkout(self) -> psycopg.AsyncConnection[Any]:
        while self._idle:
            conn = self._idle.pop()
            if self._healthy(conn):
                return conn
            await self._discard(conn)
            await self.discard_idle()
        try:
            return await psycopg.AsyncConnection.connect(self.dsn, autocommit=True,
                                                         connect_timeout=CONNECT_TIMEOUT_S)
        except (psycopg.Error, OSError) as exc:
            raise unavailable(exc) from exc

    def connection(self) -> _Checkout:
        """``async with pool.connection() as conn``: a healthy connection for one statement; connection-level
        errors become 503s (a small class, not a generator: this is on every movement's path)."""
        return _Checkout(self)

    async def _return(self, conn: psycopg.AsyncConnection[Any], exc: BaseException | None) -> None:
        if isinstance(exc, psycopg.OperationalError | psycopg.InterfaceError):
            lost = connection_lost(conn, exc)
            await self._discard(conn)
            if lost:
                await self.discard_idle()
            raise unavailable(exc) from exc
        if self._reusable(conn):
            self._idle.append(conn)
        else:
            await self._discard(conn)

    async def close(self) -> None:
        await self.discard_idle()


class _Checkout:
    __slots__ = ("conn", "pool")

    def __init__(self, pool: AsyncPool) -> None:
        self.pool = pool
        self.conn: psycopg.AsyncConnection[Any] | None = None

    async def __aenter__(self) -> psycopg.AsyncConnection[Any]:
        await self.pool._slots.acquire()
        try:
            self.conn = await self.pool._checkout()
        except BaseException:
            self.pool._slots.release()
            raise
        return self.conn

    async def __aexit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> None:
        assert self.conn is not None
        try:
            await self.pool._return(self.conn, exc)
        finally:
            self.pool._slots.release()
