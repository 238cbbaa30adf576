"""The two bounded connection pools: a caller waits up to pool_timeout for a free connection.

redis-py's own blocking pools do the same at a measured cost on every call (see each class);
here a free slot is a counter, and only a caller that finds none waits.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections import deque
from typing import Any

import redis
import redis.asyncio as aioredis
import redis.asyncio.sentinel
import redis.exceptions
import redis.sentinel

from cachectl import forksafe


class BoundedPool(redis.ConnectionPool):
    """A bounded pool whose callers wait up to wait_timeout for a free connection.

    redis-py's BlockingConnectionPool spends about 3 µs of a 60 µs local GET on a Queue, a
    select() on the socket it hands out and metrics bookkeeping; here a free slot is a counter
    under the pool's lock, and only a caller that finds none waits. A connection comes back
    only after its reply was read in full (redis-py disconnects on any error), so it is clean.
    """

    def __init__(self, *args: Any, wait_timeout: float = 0.1, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._wait_timeout = wait_timeout
        self._fresh_locks()
        forksafe.register(self)

    def _fresh_locks(self) -> None:
        self._lock = threading.RLock()
        self._freed = threading.Condition(self._lock)
        self._free = self.max_connections
        self._waiting = 0

    def after_fork(self) -> None:
        """In a forked child: new locks, and none of the parent's connections."""
        self._fresh_locks()
        self.reset()

    def get_connection(self, *args: Any, **kwargs: Any) -> Any:
        with self._lock:
            if self._free <= 0 and not self._wait_for_slot():
                raise redis.exceptions.ConnectionError("No connection available.")
            self._free -= 1
            try:
                connection = (
                    self._available_connections.pop()
                    if self._available_connections
                    else self.make_connection()
                )
            except BaseException:
                self._give_back_slot()
                raise
            self._in_use_connections.add(connection)
        try:
            connection.connect()  # a no-op when connected
        except BaseException:
            connection.disconnect()  # a handshake cut short may leave a reply unread
            self.release(connection)
            raise
        return connection

    def _wait_for_slot(self) -> bool:
        # Called with the lock held; Condition.wait releases it meanwhile.
        deadline = time.monotonic() + self._wait_timeout
        self._waiting += 1
        try:
            while self._free <= 0:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._freed.wait(remaining)
            return True
        finally:
            self._waiting -= 1

    def _give_back_slot(self) -> None:
        self._free += 1
        if self._waiting:
            self._freed.notify()

    def release(self, connection: Any) -> None:
        with self._lock:
            try:
                self._in_use_connections.remove(connection)
            except KeyError:
                return  # handed out before a fork or a reset: not ours to take back
            self._give_back_slot()
            if connection.should_reconnect():
                connection.disconnect()
            self._available_connections.append(connection)


class BoundedAsyncPool(aioredis.ConnectionPool):
    """A bounded pool that waits up to wait_timeout for a free connection.

    redis.asyncio's BlockingConnectionPool takes a Condition and a timeout scope on every call
    (about 9 µs, 18 % of a local GET); here a free slot is a counter, and only a caller that
    finds none waits, on a future of its own, in arrival order.
    """

    def __init__(self, *args: Any, wait_timeout: float = 0.1, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._free = self.max_connections
        self._waiters: deque[asyncio.Future[None]] = deque()
        self._wait_timeout = wait_timeout

    async def get_connection(self, *args: Any, **kwargs: Any) -> Any:
        if self._free > 0 and not self._waiters:
            self._free -= 1
        else:
            await self._wait_for_slot()
        # The base class's steps, minus its per-call bookkeeping: take a connection under the
        # pool lock, then make sure it is connected; a failure gives the slot back.
        try:
            async with self._lock:
                connection = self.get_available_connection()  # type: ignore[no-untyped-call]
        except BaseException:
            self._free_slot()
            raise
        try:
            await self.ensure_connection(connection)
        except BaseException:
            await self.release(connection)
            raise
        return connection

    async def _wait_for_slot(self) -> None:
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            async with asyncio.timeout(self._wait_timeout):
                await waiter
        except TimeoutError:
            if waiter.done() and not waiter.cancelled():
                self._free_slot()  # handed over just as the wait ran out: pass it on
            raise redis.exceptions.ConnectionError("No connection available.") from None
        except BaseException:
            if waiter.done() and not waiter.cancelled():
                self._free_slot()
            raise

    def _free_slot(self) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)  # the slot goes straight to the longest waiter
                return
        self._free += 1

    async def release(self, connection: Any) -> None:
        try:
            await super().release(connection)
        finally:
            self._free_slot()


class BoundedSentinelPool(BoundedPool, redis.sentinel.SentinelConnectionPool):
    """A bounded pool of connections to the primary that Sentinel names.

    Each new connection asks Sentinel where the primary is; a connection that reads READONLY
    (a demoted primary) or loses its server is dropped, so the next one asks again. A
    connection given back after the primary moved is closed rather than kept.
    """

    def release(self, connection: Any) -> None:
        if not self.owns_connection(connection):  # type: ignore[no-untyped-call]
            connection.disconnect()
        super().release(connection)

    def disconnect(self, inuse_connections: bool = True) -> None:
        try:
            super().disconnect(inuse_connections)
        finally:
            if inuse_connections:  # the client is closing: so are its Sentinel clients
                self.sentinel_manager.close()


class BoundedAsyncSentinelPool(BoundedAsyncPool, aioredis.sentinel.SentinelConnectionPool):
    """The asyncio counterpart of BoundedSentinelPool."""

    async def release(self, connection: Any) -> None:
        # (redis.asyncio's own owns_connection calls a method its base class lacks.)
        if self.master_address != (connection.host, connection.port):
            # A close slower than socket_connect_timeout raises; the slot is still released.
            with contextlib.suppress(redis.exceptions.RedisError, OSError):
                await connection.disconnect()
        await super().release(connection)

    async def disconnect(self, inuse_connections: bool = True) -> None:
        try:
            await super().disconnect(inuse_connections)
        finally:
            # Also when a data connection was slow to close (TimeoutError): the Sentinel
            # clients' connections would otherwise be left open.
            if inuse_connections:
                await self.sentinel_manager.aclose()
