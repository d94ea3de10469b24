"""A small in-process TTL cache with single flight, so a burst of /metrics calls reads the ledger once.

Only successful loads are cached; concurrent callers of one key wait for the same load instead of
starting their own. The clock is injectable so tests never sleep.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable
from typing import Any


class TTLCache:
    def __init__(self, ttl: float, *, max_entries: int = 32, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl = ttl
        self.max_entries = max_entries
        self._clock = clock
        self._entries: OrderedDict[Hashable, tuple[float, Any]] = OrderedDict()
        self._locks: dict[Hashable, asyncio.Lock] = {}
        self.loads = 0

    def _fresh(self, key: Hashable) -> tuple[bool, Any]:
        entry = self._entries.get(key)
        if entry is not None and self._clock() < entry[0]:
            return True, entry[1]
        return False, None

    async def get_or_load(self, key: Hashable, load: Callable[[], Awaitable[Any]]) -> Any:
        """The cached value of ``key`` while fresh, else the result of ``await load()`` (then cached)."""
        if self.ttl <= 0:
            self.loads += 1
            return await load()
        hit, value = self._fresh(key)
        if hit:
            return value
        lock = self._locks.setdefault(key, asyncio.Lock())
        async with lock:
            hit, value = self._fresh(key)
            if hit:
                return value
            self.loads += 1
            value = await load()
            self._entries[key] = (self._clock() + self.ttl, value)
            self._entries.move_to_end(key)
            while len(self._entries) > self.max_entries:
                old, _ = self._entries.popitem(last=False)
                self._locks.pop(old, None)
            return value

    def clear(self) -> None:
        self._entries.clear()
