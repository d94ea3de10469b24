"""The rate limiter's pipelined Redis client, against the real Redis of the test machine."""

from __future__ import annotations

import asyncio

import pytest
import redis

from sync.gateway.ratelimit.resp import RespClient, RespError
from tests.serving import free_port

pytestmark = [pytest.mark.anyio, pytest.mark.redis]


async def test_concurrent_commands_share_one_connection_and_get_their_own_replies(redis_url: str) -> None:
    client = RespClient(redis_url)
    try:
        replies = await asyncio.gather(*(client.execute("INCR", "resp:counter") for _ in range(300)))
        first = client._proto
        assert sorted(replies) == list(range(1, 301))
        assert await client.execute("GET", "resp:counter") == b"300"
        assert client._proto is first  # one connection carried all of them
    finally:
        await client.aclose()


async def test_database_from_the_url_is_selected(redis_url: str) -> None:
    client = RespClient(redis_url)
    try:
        await client.execute("SET", "resp:where", "here")
    finally:
        await client.aclose()
    sync_client = redis.Redis.from_url(redis_url)
    other = redis.Redis.from_url(redis_url.rsplit("/", 1)[0] + "/0")
    try:
        assert sync_client.get("resp:where") == b"here"
        assert other.get("resp:where") is None or redis_url.endswith("/0")
    finally:
        sync_client.close()
        other.close()


async def test_script_runs_by_sha_and_is_loaded_when_redis_forgot_it(redis_url: str) -> None:
    script = "return {KEYS[1], ARGV[1] + 1}"
    client = RespClient(redis_url)
    try:
        await client.execute("SCRIPT", "FLUSH")
        assert await client.run_script(script, ["k"], [41]) == [b"k", 42]  # NOSCRIPT -> EVAL
        assert await client.run_script(script, ["k"], [1]) == [b"k", 2]  # EVALSHA now
    finally:
        await client.aclose()


async def test_error_reply_raises_and_the_connection_stays_usable(redis_url: str) -> None:
    client = RespClient(redis_url)
    try:
        with pytest.raises(RespError, match="unknown command"):
            await client.execute("NOT-A-COMMAND")
        assert await client.ping()
    finally:
        await client.aclose()


async def test_lost_connection_is_replaced_on_the_next_command(redis_url: str) -> None:
    client = RespClient(redis_url)
    try:
        my_id = await client.execute("CLIENT", "ID")
        killer = redis.Redis.from_url(redis_url)
        killer.execute_command("CLIENT", "KILL", "ID", my_id)
        killer.close()
        await asyncio.sleep(0.05)
        assert await client.ping() and await client.execute("CLIENT", "ID") != my_id
    finally:
        await client.aclose()


async def test_silent_server_times_out_and_dead_port_fails_fast() -> None:
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await asyncio.sleep(5)
        writer.close()

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    client = RespClient(f"redis://127.0.0.1:{port}/0", timeout=0.2)
    try:
        with pytest.raises(RespError, match="did not answer"):
            await asyncio.wait_for(client.execute("PING"), 3)
    finally:
        await client.aclose()
        server.close()
    dead = RespClient(f"redis://127.0.0.1:{free_port()}/0")
    with pytest.raises(RespError, match="cannot connect"):
        await dead.execute("PING")
