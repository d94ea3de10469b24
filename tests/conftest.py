"""Shared fixtures: real PostgreSQL and Redis servers, fresh databases, free ports."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest

from tests.servers import free_port, throwaway_postgres, throwaway_redis, unavailable


@pytest.fixture(scope="session")
def redis_server_url() -> Iterator[str]:
    """URL of a real Redis server (``REDIS_URL``, else a throwaway one)."""
    url = os.environ.get("REDIS_URL")
    if url:
        yield url
        return
    with throwaway_redis() as started:
        if started is None:
            unavailable("no Redis: set REDIS_URL or install redis-server")
        yield started  # type: ignore[misc]


@pytest.fixture
def redis_url(redis_server_url: str) -> Iterator[str]:
    """A Redis URL whose database is flushed before the test, so tests never see each other's keys."""
    import redis

    client = redis.Redis.from_url(redis_server_url)
    try:
        client.ping()
    except redis.RedisError as exc:
        unavailable(f"Redis at {redis_server_url} does not answer: {exc}")
    client.flushdb()
    client.close()
    yield redis_server_url


@pytest.fixture(scope="session")
def postgres_server_url() -> Iterator[str]:
    """URL of a real PostgreSQL server (``TEST_DATABASE_URL``, else a throwaway one)."""
    url = os.environ.get("TEST_DATABASE_URL")
    if url:
        yield url
        return
    with throwaway_postgres() as started:
        if started is None:
            unavailable("no PostgreSQL: set TEST_DATABASE_URL or install the server binaries")
        yield started  # type: ignore[misc]


@pytest.fixture
def postgres_url(postgres_server_url: str) -> Iterator[str]:
    """A fresh, empty PostgreSQL database for one test, dropped afterwards."""
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


@pytest.fixture
def port() -> int:
    return free_port()
