"""How each face of the Redis backend holds its clients: the part written twice by hand.

RedisConnections (sync) holds one client, made on first use, over a bounded pool (or a cluster
client), and reads with commands written straight in RESP (backends.redis.resp): GET, MGET
and UNLINK skip redis-py's generic path, a measured 10 % of a local GET. AsyncRedisConnections
holds a client per running event loop (backends.loops). Everything else the backend does is
written once, in backends/redis/_async.py, and generated for the sync face.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Sequence
from typing import Any

import redis.exceptions

from cachectl import forksafe
from cachectl.backends.loops import PerLoop
from cachectl.backends.redis.clients import async_client, sync_client
from cachectl.backends.redis.pipelines import queue_unlink, records_of
from cachectl.backends.redis.pool import BoundedPool
from cachectl.backends.redis.resp import (
    get_command,
    mget_command,
    mget_prefixed_command,
    pttl_command,
    unlink_command,
)
from cachectl.config import CacheConfig
from cachectl.keys import prefixed


class RedisConnections:
    """The sync face's client, made on first use, and its raw-RESP fast path."""

    def __init__(self, config: CacheConfig) -> None:
        self.config = config
        self.cluster = config.cluster
        self._client: Any = None
        self._pool: BoundedPool | None = None
        self._making = threading.Lock()
        # Learnt from the first refusal (an ACL, a managed service): from then on the client
        # does the scripts' work itself (scriptless) without sending them first.
        self._scripts_refused = False
        forksafe.register(self)

    def after_fork(self) -> None:
        """In a forked child: a lock no thread of the parent can hold (the pool renews itself)."""
        self._making = threading.Lock()

    @property
    def client(self) -> Any:
        """The redis-py client (a cluster client connects to the nodes when first asked)."""
        client = self._client
        return client if client is not None else self._make_client()[0]

    def _make_client(self) -> tuple[Any, BoundedPool | None]:
        # Under a lock: two threads making a client each would leave one to be collected, and
        # a collected client closes its pool, connections in use included.
        with self._making:
            if self._client is None:
                client: Any = sync_client(self.config)
                self._pool = None if self.cluster else client.connection_pool
                self._client = client
            return self._client, self._pool

    def _call(self, command: bytes, replies: int = 1) -> Any:
        """Send a command already in RESP and read its reply (several commands in one buffer:
        a list of their replies)."""
        pool = self._pool or self._make_client()[1]
        assert pool is not None
        connection = pool.get_connection()
        try:
            connection.send_packed_command((command,), False)
            if replies == 1:
                return connection.read_response()
            return [connection.read_response() for _ in range(replies)]
        except redis.exceptions.ResponseError:
            if replies > 1:  # a later reply may be left unread
                connection.disconnect()
            raise  # an error reply (WRONGTYPE...), read in full: the connection is in step
        except BaseException:
            # Interrupted between sending and reading (a signal, a task's time limit): the
            # reply may still come, and must not be read as the answer to the next command.
            connection.disconnect()
            raise
        finally:
            pool.release(connection)

    def get(self, key: bytes) -> bytes | None:
        if self.cluster:
            value: bytes | None = self.client.get(key)
            return value
        return self._call(get_command(key))  # type: ignore[no-any-return]

    def get_many(self, keys: Sequence[bytes]) -> list[bytes | None]:
        if not keys:
            return []
        if self.cluster:
            values: list[bytes | None] = self.client.mget_nonatomic(keys)
            return values
        return self._call(mget_command(keys))  # type: ignore[no-any-return]

    def get_many_prefixed(self, prefix: bytes, keys: Sequence[str | bytes]) -> list[bytes | None]:
        if self.cluster or not keys:
            return self.get_many(prefixed(prefix, keys))
        return self._call(mget_prefixed_command(prefix, keys))  # type: ignore[no-any-return]

    def get_entry(self, key: bytes) -> tuple[bytes | None, int]:
        """key's value and PTTL, in one round trip (for the near cache)."""
        if self.cluster:
            data, pttl = self.client.pipeline(transaction=False).get(key).pttl(key).execute()
            return data, int(pttl)
        data, pttl = self._call(get_command(key) + pttl_command(key), 2)
        return data, int(pttl)

    def get_entries(self, keys: Sequence[bytes]) -> list[tuple[bytes | None, int]]:
        """Each key's value and PTTL, in one round trip per server (for the near cache)."""
        if self.cluster:
            pipe = self.client.pipeline(transaction=False)
            for key in keys:
                pipe.get(key).pttl(key)
            replies = pipe.execute()
            return list(zip(replies[::2], map(int, replies[1::2]), strict=True))
        command = mget_command(keys) + b"".join([pttl_command(key) for key in keys])
        replies = self._call(command, len(keys) + 1)
        return list(zip(replies[0], map(int, replies[1:]), strict=True))

    def _unlink(self, keys: Sequence[bytes]) -> int:
        """Unlink keys and their tags records on one server; how many of keys existed."""
        # In one buffer: a pipeline would cost ~10 µs more.
        records = records_of(keys)
        if not records:
            return int(self._call(unlink_command(keys)))
        return int(self._call(unlink_command(keys) + unlink_command(records), 2)[0])

    def probe(self) -> None:
        """The breaker's probe: a ping, on a fresh connection when idle ones may have died with
        the server (the breaker kept them idle through the outage)."""
        if self._pool is not None:
            self._pool.disconnect(inuse_connections=False)
        self.client.ping()

    def close(self) -> None:
        client, self._client = self._client, None
        self._pool = None
        if client is None:
            return
        client.close()
        if self.cluster:
            # Node clients of RedisCluster.from_url get pools that close() leaves connected.
            for node in client.get_nodes():
                if node.redis_connection is not None:
                    node.redis_connection.connection_pool.disconnect()


async def _aclose(client: Any) -> None:
    # redis.asyncio raises TimeoutError when a socket takes longer than socket_connect_timeout
    # to close (a loop busy elsewhere, a machine under load). Every connection's close was
    # started all the same (the pool gathers them), and closing a cache must not fail.
    with contextlib.suppress(redis.exceptions.RedisError, OSError):
        await client.aclose()


class AsyncRedisConnections:
    """The asyncio face's clients: one (and its pool) per running event loop."""

    def __init__(self, config: CacheConfig) -> None:
        self.config = config
        self.cluster = config.cluster
        self._clients: PerLoop[Any] = PerLoop(lambda: async_client(config), _aclose)
        self._scripts_refused = False  # see RedisConnections

    @property
    def client(self) -> Any:
        """The running loop's redis.asyncio client, made on first use there."""
        return self._clients.get()

    async def get(self, key: bytes) -> bytes | None:
        value: bytes | None = await self._clients.get().get(key)  # the hot path: no property
        return value

    async def get_many(self, keys: Sequence[bytes]) -> list[bytes | None]:
        values: list[bytes | None]
        if self.cluster:
            values = await self.client.mget_nonatomic(keys)
        else:
            values = await self.client.mget(keys)
        return values

    async def get_many_prefixed(
        self, prefix: bytes, keys: Sequence[str | bytes]
    ) -> list[bytes | None]:
        return await self.get_many(prefixed(prefix, keys))

    async def get_entry(self, key: bytes) -> tuple[bytes | None, int]:
        """See RedisConnections.get_entry."""
        data, pttl = await self.client.pipeline(transaction=False).get(key).pttl(key).execute()
        return data, int(pttl)

    async def get_entries(self, keys: Sequence[bytes]) -> list[tuple[bytes | None, int]]:
        """See RedisConnections.get_entries."""
        pipe = self.client.pipeline(transaction=False)
        if self.cluster:
            for key in keys:
                pipe.get(key).pttl(key)
            replies = await pipe.execute()
            return list(zip(replies[::2], map(int, replies[1::2]), strict=True))
        pipe.mget(keys)
        for key in keys:
            pipe.pttl(key)
        replies = await pipe.execute()
        return list(zip(replies[0], map(int, replies[1:]), strict=True))

    async def _unlink(self, keys: Sequence[bytes]) -> int:
        """See RedisConnections._unlink."""
        replies = await queue_unlink(self.client.pipeline(transaction=False), keys).execute()
        return int(replies[0])

    async def probe(self) -> None:
        """See RedisConnections.probe."""
        if not self.cluster:
            await self.client.connection_pool.disconnect(inuse_connections=False)
        await self.client.ping()

    async def close(self) -> None:
        await self._clients.close()
