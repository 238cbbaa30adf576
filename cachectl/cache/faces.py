"""What Cache and AsyncCache do each their own way: the part of the façade written twice by hand.

How each makes its backend, publishes stats in the background (a daemon thread for Cache, a
task on the running event loop for AsyncCache), takes its turn to publish, stops, and renews
itself in a forked child. Everything else is written once, in cache/_async.py, and generated
for the sync face (cache/_sync.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import threading
import time
from typing import TYPE_CHECKING, Any

from cachectl import forksafe
from cachectl.backends.base import AsyncBackend, AsyncTrackedBackend, Backend, TrackedBackend
from cachectl.backends.memory import AsyncMemoryBackend, MemoryStore
from cachectl.backends.registry import backend_class
from cachectl.breaker import Owed
from cachectl.cache.changes import Changes
from cachectl.keys import Key


class SyncFace(Changes):
    """The synchronous face's own ways: a daemon thread publishes stats."""

    backend: Backend
    #: The backend, when a near cache stands on it (CacheState._open_near).
    _tracked: TrackedBackend

    if TYPE_CHECKING:  # written once for both faces (cache/_sync.py)

        def has(self, key: Key) -> bool: ...
        def _publish(self, wait: bool = False) -> None: ...

    def _open(self, store: MemoryStore | None) -> None:
        config = self.config
        self.backend = (
            store
            if store is not None and config.is_memory
            else backend_class(config.url, asynchronous=False).from_config(config)
        )
        self._classify(self.backend)
        self._stop = threading.Event()
        self._publisher: threading.Thread | None = None

    def after_fork(self) -> None:
        """In a forked child: fresh locks; the publisher restarts when next due."""
        super().after_fork()
        if isinstance(self.backend, MemoryStore):
            self.backend.after_fork()
        stop, self._stop = self._stop, threading.Event()
        if stop.is_set():
            self._stop.set()
        self._publisher = None

    def start_publisher(self) -> None:
        """Start publishing stats every stats_interval now, not at the first call: for a
        recorder this cache shares with another face (an AsyncCache whose loops end early)."""
        self._ensure_publisher()

    def _ensure_publisher(self) -> None:
        # A daemon thread publishes every stats_interval, so figures stay live when the
        # application goes quiet; it is (re)started from the hot path at most once an interval,
        # which also covers a forked child, where the parent's thread does not exist.
        self._publish_due = False
        if not self._stats_on or self.config.is_memory or self._stop.is_set():
            return
        with self._owed_lock:  # two callers noticing at once start one thread
            thread = self._publisher
            if thread is not None and thread.is_alive():
                return
            thread = threading.Thread(target=self._publish_loop, name="cachectl-stats", daemon=True)
            self._publisher = thread
            thread.start()

    def _publish_loop(self) -> None:
        while not self._stop.wait(self.config.stats_interval):
            try:
                self._publish()
            except Exception as exc:  # the publisher must outlive any one failure
                self._warn_once("publish", "cachectl: publishing stats failed: %s", exc)

    def _publish_turn(self, wait: bool) -> bool:
        """Whether a publish may run now; it then holds _publishing until it is done.

        The background publisher skips a turn while another publish runs; publish_stats and
        close wait for it (one round trip, bounded by socket_timeout), so that everything
        recorded before they were called is on the server when they return. Bounded all the
        same: a lock held across a fork is never released in the child.
        """
        if not wait:
            return self._publishing.acquire(blocking=False)
        config = self.config  # longer than any one publish: a connection, one round trip
        patience = config.pool_timeout + config.connect_timeout + config.socket_timeout + 1
        return self._publishing.acquire(timeout=patience)

    def _stop_publisher(self) -> None:
        self._stop.set()
        if self._publisher is not None:
            self._publisher.join(self.config.socket_timeout * 4 + 0.1)

    def _pause(self, seconds: float) -> None:
        """Wait between two of close()'s probes."""
        time.sleep(seconds)

    def _default_value(self, default: Any) -> Any:
        """get_or_set's default, called if callable."""
        return default() if callable(default) else default

    def __contains__(self, key: Key) -> bool:
        return self.has(key)


class AsyncFace(Changes):
    """The asyncio face's own ways: a task on the running event loop publishes stats."""

    backend: AsyncBackend
    #: The backend, when a near cache stands on it (CacheState._open_near).
    _tracked: AsyncTrackedBackend

    if TYPE_CHECKING:  # written once for both faces (cache/_async.py)

        async def close(self) -> Owed: ...
        async def _publish(self, wait: bool = False) -> None: ...

    def _open(self, store: MemoryStore | None) -> None:
        config = self.config
        self.backend = (
            AsyncMemoryBackend(store)
            if store is not None and config.is_memory
            else backend_class(config.url, asynchronous=True).from_config(config)
        )
        self._classify(self.backend)
        self._closed = False
        self._publisher: asyncio.Task[None] | None = None

    def after_fork(self) -> None:
        """In a forked child: fresh locks; the parent's publisher task is kept, never run."""
        super().after_fork()
        if isinstance(self.backend, AsyncMemoryBackend):
            self.backend.store.after_fork()
        if self._publisher is not None:
            forksafe.keep(self._publisher)
            self._publisher = None

    def start_publisher(self) -> None:
        """Start publishing stats every stats_interval now, on the running event loop (see
        Cache.start_publisher)."""
        self._ensure_publisher()

    def _ensure_publisher(self) -> None:
        # A task on the running loop publishes every stats_interval (see SyncFace).
        self._publish_due = False
        if not self._stats_on or self.config.is_memory or self._closed:
            return
        task = self._publisher
        if task is not None and not task.done() and not task.get_loop().is_closed():
            return
        self._publisher = asyncio.get_running_loop().create_task(
            self._publish_loop(), name="cachectl-stats"
        )

    async def _publish_loop(self) -> None:
        # On Python 3.11 redis-py's asyncio.wait_for drops a cancel that lands as a command
        # completes (CPython gh-86296): the loop would go on and close() or the loop's
        # shutdown await it forever. So it also ends on _closed, and re-raises a cancel that
        # was requested but swallowed.
        me = asyncio.current_task()
        while not self._closed:
            await asyncio.sleep(self.config.stats_interval)
            if self._closed:
                return
            try:
                await self._publish()
            except Exception as exc:  # the publisher must outlive any one failure
                self._warn_once("publish", "cachectl: publishing stats failed: %s", exc)
            if me is not None and me.cancelling():
                raise asyncio.CancelledError

    async def _publish_turn(self, wait: bool) -> bool:
        """Whether a publish may run now (see SyncFace._publish_turn)."""
        config = self.config
        deadline = time.monotonic() + config.pool_timeout + config.connect_timeout
        deadline += config.socket_timeout + 1
        while not self._publishing.acquire(blocking=False):
            if not wait or time.monotonic() > deadline:
                return False
            # The holder may be a task of this very loop awaiting its reply, which blocking
            # would never let finish; the lock is a thread lock, polled, because tasks of
            # several loops and threads may share this cache.
            await asyncio.sleep(0.001)
        return True

    async def _stop_publisher(self) -> None:
        self._closed = True
        task, self._publisher = self._publisher, None
        if task is not None and not task.done():
            loop = task.get_loop()
            if loop is asyncio.get_running_loop():
                task.cancel()
                # wait(), not `await task`: the task's cancellation is not raised here, and a
                # cancellation of close() itself still is.
                await asyncio.wait({task})
            elif not loop.is_closed():  # started on another thread's loop: cancelled there
                with contextlib.suppress(RuntimeError):  # that loop closed meanwhile
                    loop.call_soon_threadsafe(task.cancel)

    async def _pause(self, seconds: float) -> None:
        """Wait between two of close()'s probes."""
        await asyncio.sleep(seconds)

    async def _default_value(self, default: Any) -> Any:
        """get_or_set's default, called if callable, awaited if awaitable."""
        value = default() if callable(default) else default
        if inspect.isawaitable(value):
            value = await value
        return value

    async def aclose(self) -> Owed:
        """The same as close."""
        return await self.close()
