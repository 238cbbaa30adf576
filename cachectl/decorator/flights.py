"""Single flight: concurrent misses of one call compute it once, the others wait for the result.

Flights (threads) and AsyncFlights (tasks of an event loop) answer the same questions, so that
the wrappers, written once (decorator/_async.py), differ only where they await. A forked child
starts with no flights: its leaders would be threads or tasks of the parent.
"""

from __future__ import annotations

import asyncio
import threading
from collections import OrderedDict
from concurrent.futures import Future
from typing import Any

from cachectl import forksafe

#: A caller waits this long at least for another caller computing the same call, then computes
#: it itself: no caller waits forever on a computation that is not running.
FLIGHT_WAIT = 10.0


class LeaderGone(Exception):
    """The caller computing a call was cancelled (its client went away, say), not this caller,
    which may then take the computation over."""


#: Keys whose flight ended that are remembered, for a caller whose read began before the end.
ENDED = 256


class WaitBound:
    """How long a waiter waits for the leader: FLIGHT_WAIT, or twice the time recent
    computations took if that is longer; then it computes itself. And which flights ended
    since a caller's read began.

    A caller reads the cache, then joins or leads a flight. When its read was answered before
    a leader stored the value but reaches the caller only after that flight ended (a slow
    reply, a busy loop), the caller found no flight and would compute again: `ended_since`
    tells it to read once more instead."""

    expected = 0.0  # seconds a computation takes, recent ones weighing most
    serial = 0  # flights ended so far: read before a caller's read of the cache

    def __init__(self) -> None:
        self._ended: OrderedDict[str, int] = OrderedDict()  # key -> serial at its end

    def took(self, seconds: float) -> None:
        """Note how long a computation took (an old slow one fades: 20 % a computation)."""
        self.expected = max(seconds, self.expected * 0.8)

    def wait_bound(self) -> float:
        """Seconds a waiter waits for the leader before computing itself."""
        return max(FLIGHT_WAIT, 2 * self.expected)

    def ended(self, key: str) -> None:
        """Note that the flight of key ended (the value is stored, if it could be)."""
        self.serial += 1
        self._ended[key] = self.serial
        self._ended.move_to_end(key)
        if len(self._ended) > ENDED:
            self._ended.popitem(last=False)

    def ended_since(self, key: str, serial: int) -> bool:
        """Whether a flight of key ended after serial was read."""
        return self._ended.get(key, 0) > serial


class Flights(WaitBound):
    """Calls in progress by key, so concurrent misses in a thread pool compute once."""

    asynchronous = False  # the flights of plain functions

    def __init__(self) -> None:
        super().__init__()
        self._lock = threading.Lock()
        self._calls: dict[str, Future[Any]] = {}
        forksafe.register(self)

    def lead(self, key: str) -> tuple[Future[Any], bool]:
        """The flight of key, and whether the caller leads it (computes the call)."""
        with self._lock:
            future = self._calls.get(key)
            if future is not None:
                return future, False
            future = self._calls[key] = Future()
            return future, True

    def follow(self, future: Future[Any]) -> Any:
        """The leader's result, or its error; TimeoutError past wait_bound."""
        return future.result(timeout=self.wait_bound())

    def fail(self, future: Future[Any], exc: BaseException) -> None:
        """The leader failed: its followers raise exc."""
        future.set_exception(exc)

    def busy(self, key: str) -> bool:
        return key in self._calls

    def done(self, key: str, future: Future[Any]) -> None:
        with self._lock:
            if self._calls.get(key) is future:
                del self._calls[key]
            self.ended(key)

    def after_fork(self) -> None:
        """In a forked child: the leaders are threads of the parent, which never finish here."""
        self._lock = threading.Lock()
        self._calls = {}


class AsyncFlights(WaitBound):
    """Calls in progress by event loop and key.

    A future belongs to one loop, so single flight holds among the tasks of one loop; calls on
    other loops (threads, or asyncio.run after asyncio.run) have flights of their own.
    """

    asynchronous = True  # the flights of coroutine functions

    def __init__(self) -> None:
        super().__init__()
        self._calls: dict[tuple[asyncio.AbstractEventLoop, str], asyncio.Future[Any]] = {}
        self._ended_lock = threading.Lock()  # the loops of several threads share these flights
        forksafe.register(self)

    def lead(self, key: str) -> tuple[asyncio.Future[Any], bool]:
        """The flight of key on the running loop, and whether the caller leads it."""
        loop = asyncio.get_running_loop()
        future = self._calls.get((loop, key))
        if future is not None:
            return future, False
        future = self._calls[loop, key] = loop.create_future()
        return future, True

    async def follow(self, future: asyncio.Future[Any]) -> Any:
        """The leader's result, or its error; TimeoutError past wait_bound, LeaderGone when the
        leader was cancelled and this caller was not."""
        try:
            return await asyncio.wait_for(asyncio.shield(future), self.wait_bound())
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if future.cancelled() and task is not None and not task.cancelling():
                raise LeaderGone from None
            raise

    def fail(self, future: asyncio.Future[Any], exc: BaseException) -> None:
        """The leader failed: its followers raise exc, or take over when it was cancelled."""
        if isinstance(exc, asyncio.CancelledError):
            future.cancel()
            return
        future.set_exception(exc)
        future.exception()  # retrieved here, so a flight nobody joined logs nothing

    def busy(self, key: str) -> bool:
        return (asyncio.get_running_loop(), key) in self._calls

    def done(self, key: str, future: asyncio.Future[Any]) -> None:
        flight = (future.get_loop(), key)
        if self._calls.get(flight) is future:
            del self._calls[flight]
        with self._ended_lock:
            self.ended(key)

    def after_fork(self) -> None:
        """In a forked child: the parent's futures are kept unused (their loops are the
        parent's), and the child starts with no flights."""
        forksafe.keep(self._calls)
        self._calls = {}
        self._ended_lock = threading.Lock()
