"""One client per running event loop, closed on its own loop when that loop shuts down.

An asyncio connection belongs to the loop that opened it: used from another loop it fails
('Event loop is closed', 'attached to a different loop'). Applications run several loops over
a process's life (asyncio.run per Celery task or script step) or at once (a loop per thread),
so an async backend keeps a client per loop.

The client of a loop is closed on that loop, while it still runs, by an async generator that
the loop itself finalizes in shutdown_asyncgens() (asyncio.run, asyncio.Runner and
pytest-asyncio call it before closing the loop). A loop closed without that call leaves its
client unclosed; the client is dropped, never touched, when the next loop asks for one.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import weakref
from collections.abc import AsyncGenerator, Awaitable, Callable, Coroutine
from typing import Generic, TypeVar

from cachectl import forksafe

T = TypeVar("T")


class _Entry(Generic[T]):
    """A loop's client, and the generator its loop finalizes at shutdown."""

    __slots__ = ("client", "closer", "key", "loop", "owner", "settled")

    def __init__(
        self, loop: asyncio.AbstractEventLoop, client: T, owner: PerLoop[T] | None
    ) -> None:
        self.key = id(loop)
        self.loop = weakref.ref(loop)
        self.client = client
        self.owner = None if owner is None else weakref.ref(owner)
        self.settled = False  # closed, or given up; decided once, under _settling
        self.closer: AsyncGenerator[None, None] | None = None

    def settle(self) -> bool:
        """Whether the caller is the one to close this client (true once, for one caller)."""
        with _settling:
            if self.settled:
                return False
            self.settled = True
        owner = None if self.owner is None else self.owner()
        if owner is not None:
            owner._forget(self)
        return True

    def abandon(self) -> None:
        """Give the client up without touching its loop; finish the closer synchronously."""
        self.settled = True
        closer, self.closer = self.closer, None
        if closer is not None:
            # The closer's finally sees settled and returns without awaiting: nothing runs on
            # the loop, and nothing is left for the loop's finalizer hook to schedule.
            with contextlib.suppress(StopIteration, RuntimeError):
                closer.aclose().send(None)


_settling = threading.Lock()


def _renew_settling() -> None:
    global _settling
    _settling = threading.Lock()


forksafe.on_fork(_renew_settling)


async def _close_at_shutdown(
    entry: _Entry[T], close: Callable[[T], Awaitable[None]]
) -> AsyncGenerator[None, None]:
    try:
        yield
    finally:
        if entry.settle():
            with contextlib.suppress(Exception):  # a loop shutting down has no one to tell
                await close(entry.client)


class PerLoop(Generic[T]):
    """A client per running event loop, made on first use there; get() is the hot path."""

    def __init__(self, make: Callable[[], T], close: Callable[[T], Awaitable[None]]) -> None:
        self._make = make
        self._close = close
        # The last loop's entry, read without a lock: a tuple is replaced whole, never mutated.
        self._last: tuple[asyncio.AbstractEventLoop | None, T | None] = (None, None)
        self._entries: dict[int, _Entry[T]] = {}  # by id(loop)
        self._lock = threading.Lock()
        forksafe.register(self)

    def get(self) -> T:
        """The running loop's client (RuntimeError outside a running loop)."""
        loop = asyncio.get_running_loop()
        last = self._last
        if last[0] is loop:
            return last[1]  # type: ignore[return-value]
        return self._get_slow(loop)

    def _get_slow(self, loop: asyncio.AbstractEventLoop) -> T:
        with self._lock:
            entry = self._entries.get(id(loop))
            if entry is None or entry.loop() is not loop:
                self._drop_finished()
                entry = _Entry(loop, self._make(), self)
                self._entries[id(loop)] = entry
                self._watch(entry)
            self._last = (loop, entry.client)
            return entry.client

    def _watch(self, entry: _Entry[T]) -> None:
        # Creating the step registers the generator with the running loop (its firstiter
        # hook); running the step to the yield, synchronously, is what makes the loop's
        # shutdown_asyncgens run the finally. The entry keeps it alive: the loop's set is weak.
        closer = _close_at_shutdown(entry, self._close)
        try:
            closer.__anext__().send(None)
        except StopIteration:
            entry.closer = closer
        except Exception:  # a loop already shutting down refuses new generators (a warning)
            entry.closer = None

    def _drop_finished(self) -> None:
        """Give up (under the lock) the clients of loops that are closed or gone."""
        for key, entry in list(self._entries.items()):
            loop = entry.loop()
            if loop is None or loop.is_closed():
                del self._entries[key]
                entry.abandon()

    def _forget(self, entry: _Entry[T]) -> None:
        with self._lock:
            if self._entries.get(entry.key) is entry:
                del self._entries[entry.key]
            if self._last[1] is entry.client:
                self._last = (None, None)

    def __len__(self) -> int:
        return len(self._entries)

    async def close(self) -> None:
        """Close the running loop's client; the clients of other running loops are closed on
        their own loops (not awaited); those of finished loops are dropped."""
        running = asyncio.get_running_loop()
        with self._lock:
            entries = list(self._entries.values())
        for entry in entries:
            loop = entry.loop()
            if loop is None or loop.is_closed():
                self._forget(entry)
                entry.abandon()
            elif entry.settle():
                if loop is running:
                    entry.abandon()  # settled: its closer has nothing left to do
                    await self._close(entry.client)
                else:
                    _close_on(loop, self._close(entry.client))

    def after_fork(self) -> None:
        """In a forked child: the parent's clients are kept, unused; the child makes its own."""
        entries = list(self._entries.values())
        for entry in entries:
            entry.abandon()
        forksafe.keep(entries)  # their sockets and loops are the parent's: never closed here
        self._entries = {}
        self._last = (None, None)
        self._lock = threading.Lock()


def _close_on(loop: asyncio.AbstractEventLoop, closing: Awaitable[None]) -> None:
    """Run a close on another thread's loop, not waiting for it."""

    async def run() -> None:
        await closing

    step = run()
    try:
        asyncio.run_coroutine_threadsafe(step, loop)
    except RuntimeError:  # the loop closed meanwhile: what it held is given up
        step.close()
        if isinstance(closing, Coroutine):
            closing.close()
