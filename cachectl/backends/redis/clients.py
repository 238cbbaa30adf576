"""How the Redis backend's redis-py clients are made: options, bounded pools, cluster clients."""

from __future__ import annotations

from typing import Any

import redis
import redis.asyncio as aioredis
from redis.asyncio.retry import Retry as AsyncRetry
from redis.backoff import NoBackoff
from redis.retry import Retry

from cachectl.backends.redis.pool import BoundedAsyncPool, BoundedPool
from cachectl.config import CacheConfig


def sync_client(config: CacheConfig) -> redis.Redis | redis.RedisCluster:
    """A redis-py client for config: over a bounded pool, or a cluster client."""
    client: redis.Redis | redis.RedisCluster = _client(
        config, redis.RedisCluster, BoundedPool, redis.Redis, Retry
    )
    return client


def async_client(config: CacheConfig) -> aioredis.Redis | aioredis.RedisCluster:
    """The asyncio counterpart of sync_client."""
    client: aioredis.Redis | aioredis.RedisCluster = _client(
        config, _AsyncCluster, BoundedAsyncPool, aioredis.Redis, AsyncRetry
    )
    return client


def _client(config: CacheConfig, cluster: Any, pool: Any, plain: Any, retry: Any) -> Any:
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
    if config.cluster:
        return cluster.from_url(config.redis_url, **options)
    return plain.from_pool(
        pool.from_url(config.redis_url, wait_timeout=config.pool_timeout, **options)
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
