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


def client_options(config: CacheConfig, *, for_asyncio: bool = False) -> dict[str, Any]:
    """Connection options of the sync client, or of the asyncio one (its own Retry class:
    redis-py 8.2 warns when an asyncio client is given the sync one)."""
    options: dict[str, Any] = {
        "socket_timeout": config.socket_timeout,
        "socket_connect_timeout": config.connect_timeout,
        # The breaker decides what a failure means; redis-py retrying would multiply timeouts.
        "retry": (AsyncRetry if for_asyncio else Retry)(NoBackoff(), 0),
        "client_name": "cachectl",
    }
    if config.password is not None:
        options["password"] = config.password
    return options


def sync_client(config: CacheConfig) -> redis.Redis | redis.RedisCluster:
    """A redis-py client for config: a bounded blocking pool, or a cluster client."""
    options = client_options(config)
    if config.cluster:
        return redis.RedisCluster.from_url(
            config.redis_url, max_connections=config.max_connections, **options
        )
    pool = BoundedPool.from_url(
        config.redis_url,
        max_connections=config.max_connections,
        wait_timeout=config.pool_timeout,
        **options,
    )
    return redis.Redis.from_pool(pool)


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


def async_client(config: CacheConfig) -> aioredis.Redis | aioredis.RedisCluster:
    """The asyncio counterpart of sync_client."""
    options = client_options(config, for_asyncio=True)
    if config.cluster:
        return _AsyncCluster.from_url(
            config.redis_url, max_connections=config.max_connections, **options
        )
    pool = BoundedAsyncPool.from_url(
        config.redis_url,
        max_connections=config.max_connections,
        wait_timeout=config.pool_timeout,
        **options,
    )
    return aioredis.Redis.from_pool(pool)
