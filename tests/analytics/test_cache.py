"""The TTL cache: reuse within the TTL, reload after, one load for concurrent callers, errors not kept."""

from __future__ import annotations

import asyncio

import pytest

from sync.analytics.cache import TTLCache


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_reuses_within_ttl_and_reloads_after() -> None:
    clock = Clock()
    cache = TTLCache(5.0, clock=clock)
    calls: list[int] = []

    async def load() -> int:
        calls.append(1)
        return len(calls)

    async def scenario() -> list[int]:
        first = await cache.get_or_load("k", load)
        clock.now = 4.9
        second = await cache.get_or_load("k", load)
        clock.now = 5.0
        third = await cache.get_or_load("k", load)
        return [first, second, third]

    assert asyncio.run(scenario()) == [1, 1, 2]


def test_concurrent_callers_share_one_load() -> None:
    cache = TTLCache(5.0, clock=Clock())
    calls: list[int] = []

    async def load() -> str:
        calls.append(1)
        await asyncio.sleep(0)  # let the other callers queue up on the lock
        return "value"

    async def scenario() -> list[str]:
        return list(await asyncio.gather(*(cache.get_or_load("k", load) for _ in range(5))))

    assert asyncio.run(scenario()) == ["value"] * 5
    assert len(calls) == 1


def test_failures_are_not_cached_and_zero_ttl_disables() -> None:
    cache = TTLCache(5.0, clock=Clock())
    attempts: list[int] = []

    async def flaky() -> str:
        attempts.append(1)
        if len(attempts) == 1:
            raise RuntimeError("down")
        return "up"

    async def scenario() -> str:
        with pytest.raises(RuntimeError):
            await cache.get_or_load("k", flaky)
        return str(await cache.get_or_load("k", flaky))

    assert asyncio.run(scenario()) == "up"
    off = TTLCache(0.0)

    async def count() -> int:
        return off.loads

    async def twice() -> tuple[int, int]:
        return await off.get_or_load("k", count), await off.get_or_load("k", count)

    assert asyncio.run(twice()) == (1, 2)
