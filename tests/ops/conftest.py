"""Module-scoped real servers for the ops tests that start a whole stack once per module."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from tests.servers import unavailable


@pytest.fixture(scope="module")
def module_postgres_url(postgres_server_url: str) -> Iterator[str]:
    """A fresh PostgreSQL database for one module, dropped afterwards."""
    import psycopg

    base = postgres_server_url.replace("postgresql+psycopg://", "postgresql://")
    name = f"t_{uuid.uuid4().hex[:12]}"
    try:
        admin = psycopg.connect(base, autocommit=True, connect_timeout=5)
    except psycopg.Error as exc:
        unavailable(f"PostgreSQL at {base} does not answer: {exc}")
    with admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    head, _, _ = base.rpartition("/")
    yield f"{head}/{name}"
    with psycopg.connect(base, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


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
