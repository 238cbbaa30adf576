"""How the Redis backend's redis-py clients are made: options, bounded pools, cluster clients,
Sentinel-managed pools that follow the primary, and the name each connection gives itself
where the server allows it."""

from __future__ import annotations

import logging
from typing import Any

import redis
import redis.asyncio as aioredis
import redis.asyncio.sentinel
import redis.exceptions
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

log = logging.getLogger("cachectl")

#: The name each connection gives itself (CLIENT LIST shows it), unless the URL's client_name.
CLIENT_NAME = "cachectl"

#: The servers (by redacted URL, which names the user) that refused CLIENT SETNAME: warned
#: about once per process, however many clients learn it.
_warned: set[str] = set()


class Naming:
    """Names each new connection of one client (CLIENT SETNAME) just after redis-py's
    handshake, not in it.

    In the handshake a refusal fails the connection, and so every command: a user whose ACL
    lacks CLIENT, or a managed service that renamed it, would get nothing from Redis. Here a
    refusal leaves the connection unnamed; the client learns it once (its later connections
    skip the round trip), and the process logs it once.
    """

    def __init__(self, config: CacheConfig) -> None:
        parsed = config.parsed_url
        option = parsed.options.get("client_name") if parsed is not None else None
        self.name = str(option or CLIENT_NAME)
        self.url = config.display_url
        self.refused = False

    def _refused(self, exc: redis.exceptions.ResponseError) -> None:
        self.refused = True
        if self.url not in _warned:
            _warned.add(self.url)
            log.warning(
                "cachectl: %s refused CLIENT SETNAME (%s); connections stay unnamed",
                self.url,
                str(exc).strip(),
            )

    def connect(self, connection: Any) -> None:
        """redis-py's handshake without the name (the URL's included), then the name."""
        connection.client_name = None
        connection.on_connect()
        self.name_it(connection)

    def name_it(self, connection: Any) -> None:
        """CLIENT SETNAME on a connection that has made its handshake, where allowed."""
        if self.refused:
            return
        connection.send_command("CLIENT", "SETNAME", self.name)
        try:
            connection.read_response()
        except redis.exceptions.ResponseError as exc:
            self._refused(exc)

    async def aconnect(self, connection: Any) -> None:
        """The asyncio counterpart of connect."""
        connection.client_name = None
        await connection.on_connect()
        if self.refused:
            return
        await connection.send_command("CLIENT", "SETNAME", self.name)
        try:
            await connection.read_response()
        except redis.exceptions.ResponseError as exc:
            self._refused(exc)


def sync_client(config: CacheConfig) -> redis.Redis | redis.RedisCluster:
    """A redis-py client for config: over a bounded pool, or a cluster client."""
    client: redis.Redis | redis.RedisCluster
    connect = Naming(config).connect
    if config.sentinel:
        client = _sentinel_client(
            config, redis.sentinel.Sentinel, BoundedSentinelPool, redis.Redis, Retry, connect
        )
    else:
        client = _client(config, _Cluster, BoundedPool, redis.Redis, Retry, connect)
    return client


def async_client(config: CacheConfig) -> aioredis.Redis | aioredis.RedisCluster:
    """The asyncio counterpart of sync_client."""
    client: aioredis.Redis | aioredis.RedisCluster
    connect = Naming(config).aconnect
    if config.sentinel:
        client = _sentinel_client(
            config,
            redis.asyncio.sentinel.Sentinel,
            BoundedAsyncSentinelPool,
            aioredis.Redis,
            AsyncRetry,
            connect,
        )
    else:
        client = _client(
            config, _AsyncCluster, BoundedAsyncPool, aioredis.Redis, AsyncRetry, connect
        )
    return client


def _options(config: CacheConfig, retry: Any, connect: Any) -> dict[str, Any]:
    # Each face its own classes; the asyncio client its own Retry too (redis-py 8.2 warns when
    # it is given the sync one).
    options: dict[str, Any] = {
        "socket_timeout": config.socket_timeout,
        "socket_connect_timeout": config.connect_timeout,
        # The breaker decides what a failure means; redis-py retrying would multiply timeouts.
        "retry": retry(NoBackoff(), 0),
        # Each new connection's handshake, then its name where allowed (Naming).
        "redis_connect_func": connect,
        "max_connections": config.max_connections,
    }
    if config.password is not None:
        options["password"] = config.password
    return options


def _client(
    config: CacheConfig, cluster: Any, pool: Any, plain: Any, retry: Any, connect: Any
) -> Any:
    options = _options(config, retry, connect)
    if config.cluster:
        return cluster.from_url(config.redis_url, **options)
    return plain.from_pool(
        pool.from_url(config.redis_url, wait_timeout=config.pool_timeout, **options)
    )


def _sentinel_client(
    config: CacheConfig, sentinel: Any, pool: Any, plain: Any, retry: Any, connect: Any
) -> Any:
    """A client over a bounded pool whose connections go to the primary Sentinel names."""
    parsed = config.parsed_url
    assert parsed is not None
    # The data nodes' options as redis-py reads them from a URL, less the address: each
    # connection asks Sentinel for the primary's.
    # (The URL's own options win, as in from_url.)
    options = _options(config, retry, connect)
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


class _Cluster(redis.RedisCluster):
    """redis-py's cluster client, each new connection's handshake made by our connect function
    alone (the client's own adds READONLY for replica reads, which cachectl never makes)."""

    def on_connect(self, connection: Any) -> None:
        self.user_on_connect_func(connection)


class _AsyncCluster(aioredis.RedisCluster):
    """redis.asyncio's cluster client, initialized before any command's own work.

    A command resolves its routing (which may ask the startup node) before it initializes the
    client; on a new client several tasks at once then use startup-node connections that the
    first initialization closes, and one reads 'Connection lost'. Each event loop has a new
    client, so that first burst is common; initializing first (once: initialize() returns at
    once when done) avoids it.

    It takes redis_connect_func, as the plain client does, for every node's connections.
    """

    def __init__(self, *args: Any, redis_connect_func: Any = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if redis_connect_func is not None:
            # The nodes found later are made with connection_kwargs; the startup nodes already
            # hold a copy.
            self.connection_kwargs["redis_connect_func"] = redis_connect_func
            for node in self.startup_nodes:
                node.connection_kwargs["redis_connect_func"] = redis_connect_func

    async def execute_command(self, *args: Any, **kwargs: Any) -> Any:
        await self.initialize()
        return await super().execute_command(*args, **kwargs)
