"""Shared fixtures: real PostgreSQL and Redis servers, fresh databases, free ports."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from tests.servers import fresh_database, throwaway_postgres, throwaway_redis, unavailable
from tests.serving import free_port


@pytest.fixture(scope="session")
def redis_server_url() -> Iterator[str]:
    """URL of a real Redis server (``REDIS_URL``, else a throwaway one)."""
    url = os.environ.get("REDIS_URL")
    if url:
        yield url
        return
    with throwaway_redis() as started:
        yield started.url


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
        yield started.url


@pytest.fixture
def postgres_url(postgres_server_url: str) -> Iterator[str]:
    """A fresh, empty PostgreSQL database for one test, dropped afterwards."""
    with fresh_database(postgres_server_url) as url:
        yield url


@pytest.fixture
def port() -> int:
    return free_port()
