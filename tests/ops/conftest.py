"""Module-scoped real servers for the ops tests that start a whole stack once per module."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.servers import fresh_database, unavailable


@pytest.fixture(scope="module")
def module_postgres_url(postgres_server_url: str) -> Iterator[str]:
    """A fresh PostgreSQL database for one module, dropped afterwards."""
    with fresh_database(postgres_server_url) as url:
        yield url


@pytest.fixture(scope="module")
def module_redis_url(redis_server_url: str) -> Iterator[str]:
    """The Redis database of REDIS_URL, flushed before the module's stack starts."""
    import redis

    client = redis.Redis.from_url(redis_server_url)
    try:
        client.ping()
    except redis.RedisError as exc:
        unavailable(f"Redis at {redis_server_url} does not answer: {exc}")
    client.flushdb()
    client.close()
    yield redis_server_url
