"""The rate limiter's Redis client, chosen by ``RATE_LIMIT_REDIS_CLIENT``: ``builtin`` (the pipelined
:class:`~sync.gateway.ratelimit.resp.RespClient`) or ``redis-py`` (redis-py's asyncio client, which
parses with hiredis when it is installed, as it is here). Both run the limiter's Lua script by SHA
(loading it on NOSCRIPT), answer PING and raise :class:`RespError` (:class:`RespReplyError` for an error
reply), so :class:`~sync.gateway.ratelimit.redis_limiter.RedisLimiter` and the readiness check work the
same on either; ``bench/gateway.py`` measures both (docs/gateway.md, "Protocol code: measured against
libraries").
"""

from __future__ import annotations

import hashlib
from typing import Any, Literal, Protocol

from redis import asyncio as aioredis
from redis.exceptions import NoScriptError, RedisError, ResponseError

from sync.gateway.ratelimit.resp import RespClient, RespError, RespReplyError

ScriptClientKind = Literal["builtin", "redis-py"]


class ScriptClient(Protocol):
    """What the limiter and the readiness check use of the Redis client."""

    async def run_script(self, script: str, keys: list[str], args: list[Any]) -> Any: ...

    async def ping(self) -> bool: ...

    async def aclose(self) -> None: ...


def make_script_client(kind: ScriptClientKind, url: str, *, timeout: float, connect_timeout: float) -> ScriptClient:
    if kind == "redis-py":
        return RedisPyScripts(url, timeout=timeout, connect_timeout=connect_timeout)
    return RespClient(url, timeout=timeout, connect_timeout=connect_timeout)


class RedisPyScripts:
    """redis-py's asyncio client (its connection pool, hiredis parser) behind the limiter's interface."""

    def __init__(self, url: str, *, timeout: float, connect_timeout: float) -> None:
        self._redis = aioredis.Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=connect_timeout)
        self._shas: dict[str, str] = {}

    async def run_script(self, script: str, keys: list[str], args: list[Any]) -> Any:
        sha = self._shas.get(script)
        if sha is None:
            sha = self._shas[script] = hashlib.sha1(script.encode(), usedforsecurity=False).hexdigest()
        try:
            try:
                return await self._redis.evalsha(sha, len(keys), *keys, *args)
            except NoScriptError:
                return await self._redis.eval(script, len(keys), *keys, *args)
        except ResponseError as exc:
            raise RespReplyError(str(exc)) from exc
        except (RedisError, OSError, TimeoutError) as exc:
            raise RespError(f"Redis call failed: {exc or type(exc).__name__}") from exc

    async def ping(self) -> bool:
        try:
            return bool(await self._redis.ping())
        except (RedisError, OSError, TimeoutError) as exc:
            raise RespError(f"Redis call failed: {exc or type(exc).__name__}") from exc

    async def aclose(self) -> None:
        await self._redis.aclose()
