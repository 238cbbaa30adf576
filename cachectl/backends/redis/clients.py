"""How the Redis backend's redis-py clients are made: options, bounded pools, cluster clients,
and Sentinel-managed pools that follow the primary."""

from __future__ import annotations

from typing import Any

import redis
import redis.asyncio as aioredis
import redis.asyncio.sentinel
import redis.sentinel
from redis.asyncio.retry import Retry as AsyncRetry
from redis.backoff import NoBackoff
from redis.connection import SSLConnection
from redis.connection import parse_url as redis_parse_url
from redis.retry import Retry

from cachectl.backends.redis.pool import (
    BoundedAsyncPool,
    BoundedAsyncSentinelPool,
    BoundedPool,
    BoundedSentinelPool,
)
from cachectl.config import CacheConfig


def sync_client(config: CacheConfig) -> redis.Redis | redis.RedisCluster:
    """A redis-py client for config: over a bounded pool, or a cluster client."""
    client: redis.Redis | redis.RedisCluster
    if config.sentinel:
        client = _sentinel_client(
            config, redis.sentinel.Sentinel, BoundedSentinelPool, redis.Redis, Retry
        )
    else:
        client = _client(config, redis.RedisCluster, BoundedPool, redis.Redis, Retry)
    return client


def async_client(config: CacheConfig) -> aioredis.Redis | aioredis.RedisCluster:
    """The asyncio counterpart of sync_client."""
    client: aioredis.Redis | aioredis.RedisCluster
    if config.sentinel:
        client = _sentinel_client(
            config,
            redis.asyncio.sentinel.Sentinel,
            BoundedAsyncSentinelPool,
            aioredis.Redis,
            AsyncRetry,
        )
    else:
        client = _client(config, _AsyncCluster, BoundedAsyncPool, aioredis.Redis, AsyncRetry)
    return client


def _options(config: CacheConfig, retry: Any) -> dict[str, Any]:
    # Each face its own classes; the asyncio client its own Retry too (redis-py 8.2 warns when
    # it is given the sync one).
    options: dict[str, Any] = {
        "socket_timeout": config.socket_timeout,
        "socket_connect_timeout": config.connect_timeout,
        # The breaker decides what a failure means; redis-py retrying would multiply timeouts.
        "retry": retry(NoBackoff(), 0),
        "client_name": "cachectl",
        "max_connections": config.max_connections,
    }
    if config.password is not None:
        options["password"] = config.password
    return options


def _client(config: CacheConfig, cluster: Any, pool: Any, plain: Any, retry: Any) -> Any:
    options = _options(config, retry)
    if config.cluster:
        return cluster.from_url(config.redis_url, **options)
    return plain.from_pool(
        pool.from_url(config.redis_url, wait_timeout=config.pool_timeout, **options)
    )


def _sentinel_client(config: CacheConfig, sentinel: Any, pool: Any, plain: Any, retry: Any) -> Any:
    """A client over a bounded pool whose connections go to the primary Sentinel names."""
    parsed = config.parsed_url
    assert parsed is not None
    # The data nodes' options as redis-py reads them from a URL, less the address: each
    # connection asks Sentinel for the primary's.
    # (The URL's own options win, as in from_url.)
    options = _options(config, retry)
    options.update(redis_parse_url(config.redis_url))  # type: ignore[no-untyped-call]
    for name in ("host", "port"):
        options.pop(name, None)
    tls = options.pop("connection_class", None) is SSLConnection
    # The Sentinels' own connections: the same timeouts and TLS, their own user and password,
    # and no retry (discovery moves on to the next Sentinel by itself).
    sentinel_options: dict[str, Any] = {
        "socket_timeout": config.socket_timeout,
        "socket_connect_timeout": config.connect_timeout,
        "retry": retry(NoBackoff(), 0),
    }
    for name in ("username", "password"):
        if f"sentinel_{name}" in parsed.options:
            sentinel_options[name] = parsed.options[f"sentinel_{name}"]
    if tls:
        sentinel_options["ssl"] = True
        sentinel_options.update({k: v for k, v in options.items() if k.startswith("ssl_")})
    manager = sentinel(parsed.sentinels, sentinel_kwargs=sentinel_options)
    return plain.from_pool(
        pool(
            parsed.service,
            manager,
            ssl=tls,
            wait_timeout=config.pool_timeout,
            **options,
        )
    )


class _AsyncCluster(aioredis.RedisCluster):
    """redis.asyncio's cluster client, initialized before any command's own work.

    A command resolves its routing (which may ask the startup node) before it initializes the
    client; on a new client several tasks at once then use startup-node connections that the
    first initialization closes, and one reads 'Connection lost'. Each event loop has a new
    client, so that first burst is common; initializing first (once: initialize() returns at
    once when done) avoids it.
    """

    async def execute_command(self, *args: Any, **kwargs: Any) -> Any:
        await self.initialize()
        return await super().execute_command(*args, **kwargs)
