"""A real os.fork() while other threads hold the cache's locks and compute a decorated call.

The child has only the forking thread: a lock another thread held, or a computation another
thread was running, would never be released or finish there. The child must start afresh and
exit within a bound; the parent kills it if it hangs, and asserts its exit status.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import threading
import time
import traceback
import warnings
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from cachectl import AsyncCache, Cache
from cachectl import default as default_module
from cachectl.backends.memory import AsyncMemoryBackend, MemoryStore
from cachectl.backends.redis import AsyncRedisBackend, RedisBackend
from cachectl.decorator import flights as single_flight
from cachectl.testing import PATIENT

pytestmark = [
    pytest.mark.usefixtures("watchdog"),
    pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork"),
]

#: Far above what the child needs; a child still running then is hung.
CHILD_SECONDS = 20
ALL_BACKENDS = pytest.mark.parametrize(
    "backend_url",
    ["memory", "redis", pytest.param("cluster", marks=pytest.mark.cluster)],
    indirect=True,
)


def _fork(child: Callable[[], bool]) -> int:
    """Run child() in a forked child; its exit status (0: True, 1: False, 2: raised).

    A child still running after CHILD_SECONDS is killed: status -9, a hang.
    """
    with warnings.catch_warnings():
        # Python 3.12+ warns about fork() with threads running: that is the point here.
        warnings.simplefilter("ignore", DeprecationWarning)
        pid = os.fork()
    if pid == 0:
        code = 2
        try:
            code = 0 if child() else 1
        except BaseException:
            traceback.print_exc()
        finally:
            os._exit(code)
    deadline = time.monotonic() + CHILD_SECONDS
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            return -signal.SIGKILL
        time.sleep(0.01)


def _flights_of(function: Any) -> Any:
    """The single-flight registry a decorated function closes over."""
    for cell in function.__closure__ or ():
        if isinstance(cell.cell_contents, single_flight.Flights | single_flight.AsyncFlights):
            return cell.cell_contents
    raise AssertionError("no flights")


def _locks_of(cache: Cache | AsyncCache, function: Any) -> list[Any]:
    """Every lock a call through cache or function may take."""
    locks = [
        cache._owed_lock,
        cache._publishing,
        cache.breaker._probing,
        cache.fallback._lock,
        default_module._lock,
    ]
    flights = _flights_of(function)
    if isinstance(flights, single_flight.Flights):
        locks.append(flights._lock)
    backend = cache.backend
    if isinstance(backend, MemoryStore):
        locks.append(backend._lock)
    if isinstance(backend, AsyncMemoryBackend):
        locks.append(backend.store._lock)
    if isinstance(backend, RedisBackend):
        locks.append(backend._making)
        if not backend.cluster:
            backend.get(b"warm-up")
            locks.append(backend.client.connection_pool._lock)
    if isinstance(backend, AsyncRedisBackend):
        locks.append(backend._clients._lock)
    return locks


@contextlib.contextmanager
def _held(locks: list[Any]) -> Iterator[None]:
    """Hold every lock in another thread for the duration of the block."""
    taken, release = threading.Event(), threading.Event()

    def hold() -> None:
        with contextlib.ExitStack() as stack:
            for lock in locks:
                assert lock.acquire(timeout=10)
                stack.callback(lock.release)
            taken.set()
            release.wait(60)

    thread = threading.Thread(target=hold, daemon=True)
    thread.start()
    assert taken.wait(10)
    try:
        yield
    finally:
        release.set()
        thread.join(10)


@ALL_BACKENDS
def test_a_child_forked_mid_computation_with_every_lock_held_runs_freely(
    backend_url: str, namespace: str
) -> None:
    cache = Cache(backend_url, namespace=namespace, recovery_interval=0.05, **PATIENT)
    parent = os.getpid()
    computing, release = threading.Event(), threading.Event()
    calls: list[int] = []

    @cache.cached(ttl=60, prefix="slow")
    def slow(x: int) -> int:
        calls.append(x)
        if os.getpid() == parent:
            computing.set()
            assert release.wait(30)
        return x * 10

    cache.set("before", "fork")
    leader = threading.Thread(target=slow, args=(1,))
    leader.start()
    assert computing.wait(10)  # the leader holds the flight of slow(1)

    def child() -> bool:
        assert slow(1) == 10  # computed here: the parent's leader never finishes in the child
        assert slow(1) == 10
        assert calls[-1:] == [1]
        cache.set("child", "wrote", tags=("t",))
        assert cache.get("child") == "wrote"
        # (The embedded store, whose lock a parent's thread held, started empty: "before" is
        # found only on Redis.)
        found = cache.get_many(["before", "child"])
        assert found == {"before": "fork", "child": "wrote"} or found == {"child": "wrote"}
        assert cache.invalidate_tag("t") == 1
        assert cache.invalidate_pattern("nothing:*") == 0
        # An outage and a recovery: the probe lock, held by the parent's thread, is free here.
        cache.breaker.trip()
        cache.delete("during")
        time.sleep(0.1)
        assert cache.get("during") is None
        assert cache.breaker_state == "closed"
        cache.publish_stats()
        cache.close()
        return True

    with _held(_locks_of(cache, slow)):
        status = _fork(child)
    release.set()
    leader.join(10)
    assert status == 0
    assert calls == [1]  # the parent computed once; the child's calls were its own
    assert cache.get(slow.key(1)) == 10
    cache.close()


@ALL_BACKENDS
def test_an_async_child_forked_mid_computation_with_every_lock_held_runs_freely(
    backend_url: str, namespace: str
) -> None:
    cache = AsyncCache(backend_url, namespace=namespace, recovery_interval=0.05, **PATIENT)
    parent = os.getpid()
    computing, release, proceed = threading.Event(), threading.Event(), threading.Event()

    @cache.cached(ttl=60, prefix="slow")
    async def slow(x: int) -> int:
        if os.getpid() == parent:
            computing.set()
            while not release.is_set():
                await asyncio.sleep(0.01)
        return x * 10

    async def parent_loop() -> list[Any]:
        # The leader computes on this thread's loop, whose client stays connected across the
        # fork; afterwards that connection must still answer in the parent.
        await cache.set("before", "fork")
        leader = asyncio.create_task(slow(1))
        waiter = asyncio.create_task(slow(1))
        while not proceed.is_set():
            await asyncio.sleep(0.01)
        results = [await leader, await waiter]
        await cache.set("after", "fork")
        return [*results, await cache.get("after"), await cache.get("before")]

    out: list[Any] = []
    thread = threading.Thread(target=lambda: out.append(asyncio.run(parent_loop())))
    thread.start()
    assert computing.wait(10)

    async def in_child() -> bool:
        assert await slow(1) == 10
        assert await asyncio.gather(slow(2), slow(2)) == [20, 20]
        await cache.set("child", "wrote", tags=("t",))
        assert await cache.get("child") == "wrote"
        assert await cache.invalidate_tag("t") == 1
        cache.breaker.trip()
        await cache.delete("during")
        await asyncio.sleep(0.1)
        assert await cache.get("during") is None
        assert cache.breaker_state == "closed"
        await cache.close()
        return True

    with _held(_locks_of(cache, slow)):
        status = _fork(lambda: asyncio.run(in_child()))
    release.set()
    proceed.set()
    thread.join(20)
    assert status == 0
    assert out == [[10, 10, "fork", "fork"]]
    asyncio.run(cache.close())


def test_a_waiter_computes_itself_when_the_leader_takes_too_long(
    cache: Cache, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(single_flight, "FLIGHT_WAIT", 0.2)
    computing, release = threading.Event(), threading.Event()
    calls: list[str] = []

    @cache.cached(ttl=60, prefix="stuck")
    def stuck() -> str:
        calls.append("call")
        if len(calls) == 1:
            computing.set()
            assert release.wait(30)
            return "leader"
        return "waiter"

    leader_result: list[str] = []
    leader = threading.Thread(target=lambda: leader_result.append(stuck()))
    leader.start()
    assert computing.wait(10)
    assert stuck() == "waiter"  # not forever: after the bound, it computed itself
    release.set()
    leader.join(10)
    assert leader_result == ["leader"]
    assert calls == ["call", "call"]


async def test_an_async_waiter_computes_itself_when_the_leader_takes_too_long(
    acache: AsyncCache, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(single_flight, "FLIGHT_WAIT", 0.2)
    release = asyncio.Event()
    calls: list[str] = []

    @acache.cached(ttl=60, prefix="stuck")
    async def stuck() -> str:
        calls.append("call")
        if len(calls) == 1:
            await release.wait()
            return "leader"
        return "waiter"

    leader = asyncio.create_task(stuck())
    while not calls:
        await asyncio.sleep(0.01)
    assert await stuck() == "waiter"
    release.set()
    assert await leader == "leader"
    assert calls == ["call", "call"]


def test_a_leaders_own_timeout_error_is_shared_not_mistaken_for_a_long_wait(
    cache: Cache, monkeypatch: pytest.MonkeyPatch
) -> None:
    computing, release = threading.Event(), threading.Event()
    calls: list[int] = []

    @cache.cached(ttl=60, prefix="times-out")
    def times_out() -> int:
        calls.append(1)
        computing.set()
        assert release.wait(30)
        raise TimeoutError("upstream")

    flights = _flights_of(times_out)
    arrived: list[str] = []
    lead = flights.lead

    def counted_lead(key: str) -> Any:
        arrived.append(key)
        return lead(key)

    monkeypatch.setattr(flights, "lead", counted_lead)
    errors: list[BaseException] = []

    def call() -> None:
        try:
            times_out()
        except TimeoutError as exc:
            errors.append(exc)

    threads = [threading.Thread(target=call) for _ in range(2)]
    threads[0].start()
    assert computing.wait(10)
    threads[1].start()
    deadline = time.monotonic() + 10
    while len(arrived) < 2:  # the second caller has joined the flight
        assert time.monotonic() < deadline
        time.sleep(0.005)
    release.set()
    for thread in threads:
        thread.join(10)
    assert [str(e) for e in errors] == ["upstream", "upstream"]
    assert calls == [1]
