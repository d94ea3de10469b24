"""Write flow control for asyncio protocols: the transport says when its buffer is full; writers wait."""

from __future__ import annotations

import asyncio


class WriteFlowControl:
    """Mixin for an ``asyncio.Protocol``: ``await self.drain()`` returns once the transport has room again
    (or when :meth:`release_drain` is called, e.g. because the connection was lost)."""

    write_paused = False
    _drain_waiter: asyncio.Future[None] | None = None

    def pause_writing(self) -> None:
        self.write_paused = True

    def resume_writing(self) -> None:
        self.write_paused = False
        self.release_drain(None)

    def release_drain(self, exc: BaseException | None) -> None:
        """Wake a writer waiting in :meth:`drain`, with ``exc`` raised in it when given."""
        waiter, self._drain_waiter = self._drain_waiter, None
        if waiter is not None and not waiter.done():
            if exc is None:
                waiter.set_result(None)
            else:
                waiter.set_exception(exc)

    async def drain(self) -> None:
        if self.write_paused:
            self._drain_waiter = asyncio.get_running_loop().create_future()
            await self._drain_waiter
