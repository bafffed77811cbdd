"""Redis cache shared by every worker and node: one server, a Sentinel-managed primary or a Redis
Cluster (cache/redis_urls.py reads the URL). Connection errors become StorageUnavailable.

Every operation touches one key, except get_many: on a Cluster its keys (a token's jti and grant
entries) can live in different hash slots, so it reads them with one pipelined MGET per slot
(redis-py's mget_nonatomic) instead of a cross-slot MGET, which a Cluster refuses.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from typing import Any, cast

import redis
import redis.asyncio
import redis.asyncio.cluster
import redis.asyncio.sentinel
import redis.cluster
import redis.sentinel
from redis.asyncio.retry import Retry as AsyncRetry
from redis.backoff import ExponentialBackoff
from redis.retry import Retry

from authserver.cache.pipeline import Pipeline
from authserver.cache.redis_urls import RedisTarget, parse
from authserver.errors import StorageUnavailable

_INCR_WITH_TTL = """
local v = redis.call('INCRBY', KEYS[1], ARGV[3])
if v == tonumber(ARGV[3]) or ARGV[2] == '1' then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return v
"""
# Only a live key is decremented (DECR on a missing key would create a -1 with no expiry), never below 0.
_DECR_EXISTING = """
local v = redis.call('GET', KEYS[1])
if not v then return 0 end
if tonumber(v) <= 0 then return 0 end
return redis.call('DECR', KEYS[1])
"""


@contextlib.contextmanager
def _translate() -> Iterator[None]:
    try:
        yield
    except (redis.ConnectionError, redis.TimeoutError, redis.exceptions.ClusterError) as exc:
        raise StorageUnavailable("redis unavailable") from exc


def _ms(ttl: float) -> int:
    return max(1, int(ttl * 1000))


# Short timeouts and one quick retry: a Redis restart costs a few failed requests, not a hang.
def _options() -> dict[str, Any]:
    return {
        "decode_responses": True,
        "socket_timeout": 2.0,
        "socket_connect_timeout": 2.0,
        "retry": Retry(ExponentialBackoff(cap=0.2, base=0.02), retries=1),
        "health_check_interval": 30,
    }


def _async_options() -> dict[str, Any]:
    return {**_options(), "retry": AsyncRetry(ExponentialBackoff(cap=0.2, base=0.02), retries=1)}


# redis-py leaves its Sentinel and Cluster constructors untyped; they are called through these names.
_Sentinel: Any = redis.sentinel.Sentinel
_AsyncSentinel: Any = redis.asyncio.sentinel.Sentinel
_ClusterNode: Any = redis.cluster.ClusterNode
_AsyncClusterNode: Any = redis.asyncio.cluster.ClusterNode
_parse_url: Any = redis.connection.parse_url


def _auth(target: RedisTarget) -> dict[str, Any]:
    auth: dict[str, Any] = {"username": target.username, "password": target.password}
    if target.tls:
        auth["ssl"] = True
    return auth


def _client(target: RedisTarget) -> Any:
    if target.kind == "single":
        return redis.Redis.from_url(target.url, **_options())
    if target.kind == "sentinel":
        sentinels = _Sentinel(
            list(target.nodes),
            socket_timeout=2.0,
            socket_connect_timeout=2.0,
            sentinel_kwargs={"password": target.sentinel_password, "socket_timeout": 2.0},
        )
        return sentinels.master_for(target.service, db=target.db, **_options(), **_auth(target))
    options = {k: v for k, v in _options().items() if k != "health_check_interval"}
    nodes = [_ClusterNode(host, port) for host, port in target.nodes]
    return redis.cluster.RedisCluster(startup_nodes=nodes, **options, **_auth(target))


def _async_client(target: RedisTarget) -> Any:
    if target.kind == "single":
        return redis.asyncio.Redis.from_url(target.url, **_async_options())
    if target.kind == "sentinel":
        sentinels = _AsyncSentinel(
            list(target.nodes),
            socket_timeout=2.0,
            socket_connect_timeout=2.0,
            sentinel_kwargs={"password": target.sentinel_password, "socket_timeout": 2.0},
        )
        return sentinels.master_for(target.service, db=target.db, **_async_options(), **_auth(target))
    options = {k: v for k, v in _async_options().items() if k != "health_check_interval"}
    nodes = [_AsyncClusterNode(host, port) for host, port in target.nodes]
    return redis.asyncio.cluster.RedisCluster(startup_nodes=nodes, **options, **_auth(target))


def _pipeline(target: RedisTarget) -> Pipeline | None:
    """The lean pipelined connection (cache/pipeline.py) for the reads made on the event loop: for one
    server over plain TCP. TLS, unix sockets, URL options, Sentinel and Cluster keep redis-py's client."""
    if target.kind != "single":
        return None
    options: dict[str, Any] = _parse_url(target.url)
    if not set(options) <= {"host", "port", "db", "username", "password"}:
        return None
    return Pipeline(
        str(options.get("host", "localhost")),
        int(options.get("port", 6379)),
        db=int(options.get("db", 0)),
        username=options.get("username"),
        password=options.get("password"),
        timeout=_options()["socket_timeout"],
    )


class RedisCache:
    shared = True

    def __init__(self, url: str, prefix: str) -> None:
        self._target = parse(url)
        self._cluster = self._target.kind == "cluster"
        self._redis = _client(self._target)
        # An asyncio client for the few reads made on the event loop, bound to the loop that first uses it.
        self._async: Any = None
        self._async_loop: asyncio.AbstractEventLoop | None = None
        self._pipeline = _pipeline(self._target)
        self._prefix = prefix
        self._incr = self._redis.register_script(_INCR_WITH_TTL)
        self._decr = self._redis.register_script(_DECR_EXISTING)

    def get(self, key: str) -> str | None:
        with _translate():
            return cast("str | None", self._redis.get(self._prefix + key))

    def get_many(self, keys: list[str]) -> list[str | None]:
        names = [self._prefix + k for k in keys]
        with _translate():
            values = self._redis.mget_nonatomic(names) if self._cluster else self._redis.mget(names)
            return cast("list[str | None]", values)

    async def get_many_async(self, keys: list[str]) -> list[str | None]:
        if self._pipeline is not None:
            return cast("list[str | None]", await self._pipeline.execute("MGET", *[self._prefix + k for k in keys]))
        loop = asyncio.get_running_loop()
        if self._async is None or self._async_loop is not loop:
            self._async = _async_client(self._target)
            self._async_loop = loop
        names = [self._prefix + k for k in keys]
        with _translate():
            if self._cluster:
                return cast("list[str | None]", await self._async.mget_nonatomic(names))
            return cast("list[str | None]", await self._async.mget(names))

    def set(self, key: str, value: str, ttl: float) -> None:
        with _translate():
            self._redis.set(self._prefix + key, value, px=_ms(ttl))

    def add(self, key: str, value: str, ttl: float) -> bool:
        with _translate():
            return bool(self._redis.set(self._prefix + key, value, px=_ms(ttl), nx=True))

    def incr(self, key: str, ttl: float, *, refresh: bool = False, amount: int = 1) -> int:
        with _translate():
            return int(self._incr(keys=[self._prefix + key], args=[_ms(ttl), "1" if refresh else "0", amount]))

    def decr(self, key: str) -> int:
        with _translate():
            return int(self._decr(keys=[self._prefix + key]))

    def take(self, key: str) -> str | None:
        with _translate():
            return cast("str | None", self._redis.getdel(self._prefix + key))

    def delete(self, key: str) -> None:
        with _translate():
            self._redis.delete(self._prefix + key)

    def ping(self) -> None:
        with _translate():
            self._redis.ping()

    def close(self) -> None:
        self._redis.close()

    async def close_async(self) -> None:
        if self._pipeline is not None:
            await self._pipeline.close()
        client, self._async = self._async, None
        if client is not None and self._async_loop is asyncio.get_running_loop():
            await client.aclose()
