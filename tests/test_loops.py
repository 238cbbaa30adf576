"""One AsyncCache used from many event loops: asyncio.run after asyncio.run, a loop per thread.

Each test is a plain function that runs its own loops, as a Celery task or a script does; any
"Event loop is closed" error, or a connection of a finished loop left open (a ResourceWarning),
fails the test.
"""

from __future__ import annotations

import asyncio
import gc
import sys
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from cachectl import AsyncCache
from cachectl.testing import PATIENT
from tests.servers import RedisServer

pytestmark = pytest.mark.usefixtures("watchdog")

ALL_BACKENDS = pytest.mark.parametrize(
    "backend_url",
    ["memory", "redis", pytest.param("cluster", marks=pytest.mark.cluster)],
    indirect=True,
)


@pytest.fixture
def unraisable() -> Iterator[list[str]]:
    """What destructors reported (an unclosed socket or transport...), collected and checked."""
    seen: list[str] = []
    previous = sys.unraisablehook

    def record(report: Any) -> None:
        seen.append(f"{report.exc_type.__name__}: {report.exc_value} ({report.object!r})")

    sys.unraisablehook = record
    try:
        yield seen
        gc.collect()
    finally:
        sys.unraisablehook = previous
    assert seen == []


def _in_thread(target: Callable[[], Any]) -> tuple[threading.Thread, list[Any]]:
    """Start target in a thread; its result (or exception) lands in the list."""
    out: list[Any] = []

    def run() -> None:
        try:
            out.append(target())
        except BaseException as exc:  # handed to the test thread
            out.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    return thread, out


async def _round_trip(cache: AsyncCache, round_no: int) -> dict[str, Any]:
    await cache.set(f"r:{round_no}", {"round": round_no}, tags=("rounds",))
    await cache.set_many({f"m:{round_no}:{i}": i for i in range(3)})
    return {
        "get": await cache.get(f"r:{round_no}"),
        "many": await cache.get_many([f"m:{round_no}:{i}" for i in range(3)]),
        "deleted": await cache.delete(f"m:{round_no}:0"),
        "after": await cache.get(f"m:{round_no}:0", "gone"),
    }


@ALL_BACKENDS
def test_one_async_cache_through_three_asyncio_runs(
    backend_url: str, namespace: str, unraisable: list[str]
) -> None:
    cache = AsyncCache(backend_url, namespace=namespace, **PATIENT)
    for round_no in range(3):
        assert asyncio.run(_round_trip(cache, round_no)) == {
            "get": {"round": round_no},
            "many": {f"m:{round_no}:{i}": i for i in range(3)},
            "deleted": 1,
            "after": "gone",
        }
    assert asyncio.run(cache.invalidate_tag("rounds")) == 3
    asyncio.run(cache.close())
    assert cache.breaker_state == "closed"
    assert cache.stats().total.errors == 0
    assert cache.stats().total.fallback == 0


@ALL_BACKENDS
def test_two_threads_each_with_its_own_loop_share_one_async_cache(
    backend_url: str, namespace: str, unraisable: list[str]
) -> None:
    cache = AsyncCache(backend_url, namespace=namespace, **PATIENT)
    both_running = threading.Barrier(2, timeout=10)

    async def work(name: str) -> list[Any]:
        both_running.wait()  # the two loops run at the same time from here on
        seen = []
        for i in range(30):
            await cache.set(f"{name}:{i}", [name, i])
            seen.append(await cache.get(f"{name}:{i}"))
            await asyncio.sleep(0)
        return seen

    started = [_in_thread(lambda n=name: asyncio.run(work(n))) for name in ("a", "b")]
    for thread, _ in started:
        thread.join(20)
    assert [out for _, out in started] == [[[[n, i] for i in range(30)]] for n in ("a", "b")]
    assert asyncio.run(cache.get_many(["a:29", "b:29"])) == {"a:29": ["a", 29], "b:29": ["b", 29]}
    asyncio.run(cache.close())
    assert cache.stats().total.errors == 0


@ALL_BACKENDS
def test_a_decorated_coroutine_function_across_loops(
    backend_url: str, namespace: str, unraisable: list[str]
) -> None:
    cache = AsyncCache(backend_url, namespace=namespace, **PATIENT)
    calls: list[int] = []

    @cache.cached(ttl=60, prefix="sq")
    async def square(x: int) -> int:
        calls.append(x)
        await asyncio.sleep(0.01)
        return x * x

    async def burst(x: int) -> list[int]:
        return list(await asyncio.gather(*(square(x) for _ in range(5))))

    assert asyncio.run(burst(3)) == [9] * 5
    assert asyncio.run(burst(3)) == [9] * 5  # a hit, from a loop that did not compute it
    assert calls == [3]
    threads = [_in_thread(lambda x=x: asyncio.run(burst(x))) for x in (4, 5)]
    for thread, _ in threads:
        thread.join(20)
    assert [out for _, out in threads] == [[[16] * 5], [[25] * 5]]
    assert sorted(calls) == [3, 4, 5]  # single flight within each loop
    assert asyncio.run(square.invalidate(4)) == 1
    assert asyncio.run(square(4)) == 16
    asyncio.run(cache.close())


def test_connections_of_each_finished_loop_are_closed(own_redis: RedisServer) -> None:
    cache = AsyncCache(own_redis.url, namespace="loops", **PATIENT)
    with own_redis.client() as raw:

        def ours() -> int:
            return sum(1 for c in raw.client_list() if c["name"] == "cachectl")

        for i in range(5):
            asyncio.run(cache.set("k", i))
            assert ours() == 0  # closed on its own loop as that loop shut down
        assert asyncio.run(cache.get("k")) == 4
        asyncio.run(cache.close())
        assert ours() == 0


def test_close_closes_this_loops_client_and_another_threads_on_its_loop(
    own_redis: RedisServer, unraisable: list[str]
) -> None:
    cache = AsyncCache(own_redis.url, namespace="loops", **PATIENT)
    used, closed = threading.Event(), threading.Event()

    async def other_thread() -> Any:
        await cache.set("other", 1)
        used.set()
        while not closed.is_set():
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.05)  # the close scheduled on this loop runs meanwhile
        return await cache.get("other")  # a new client of this loop's own, after close

    thread, out = _in_thread(lambda: asyncio.run(other_thread()))
    assert used.wait(10)
    with own_redis.client() as raw:
        asyncio.run(cache.set("here", 2))
        asyncio.run(cache.close())
        closed.set()
        thread.join(20)
        assert out == [1]
        assert not [c for c in raw.client_list() if c["name"] == "cachectl"]
    assert cache.stats().total.errors == 0


def test_stats_are_published_from_every_loop(redis_url: str, namespace: str) -> None:
    cache = AsyncCache(redis_url, namespace=namespace, stats_interval=0.01, **PATIENT)

    async def reads() -> None:
        for _ in range(5):
            await cache.get("p:x")
            await asyncio.sleep(0.02)  # the publisher task of this loop runs meanwhile

    for _ in range(3):
        asyncio.run(reads())
    asyncio.run(cache.close())
    published = asyncio.run(cache.published_stats())
    assert published["p"].misses == 15
    asyncio.run(cache.close())


@pytest.mark.filterwarnings("ignore::ResourceWarning")
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_a_loop_closed_without_shutdown_leaves_nothing_in_the_way(redis_url: str) -> None:
    # loop.close() without loop.shutdown_asyncgens(): that loop's client cannot be closed on
    # it any more; it is dropped, and the next loop gets its own.
    cache = AsyncCache(redis_url, namespace="manual", **PATIENT)
    loop = asyncio.new_event_loop()
    loop.run_until_complete(cache.set("k", "first"))
    loop.close()
    assert asyncio.run(cache.get("k")) == "first"
    asyncio.run(cache.set("k", "second"))
    assert asyncio.run(cache.get("k")) == "second"
    asyncio.run(cache.close())
    assert cache.stats().total.errors == 0


@pytest.mark.cluster
def test_a_burst_of_first_calls_on_each_new_loop_reaches_the_cluster(
    cluster_url: str, namespace: str, unraisable: list[str]
) -> None:
    # Every loop starts with a new cluster client: its first calls arrive all at once.
    cache = AsyncCache(cluster_url, namespace=namespace, **PATIENT)
    asyncio.run(cache.set_many({f"k:{i}": i for i in range(10)}))

    async def burst() -> list[Any]:
        return list(await asyncio.gather(*(cache.get(f"k:{i}") for i in range(10))))

    for _ in range(20):
        assert asyncio.run(burst()) == list(range(10))
    asyncio.run(cache.close())
    assert cache.stats().total.errors == 0
    assert cache.breaker.opened == 0


@pytest.mark.usefixtures("default_reset")
def test_the_bare_decorator_across_asyncio_runs(
    backend_url: str, namespace: str, unraisable: list[str]
) -> None:
    import cachectl

    cachectl.configure(backend_url, namespace=namespace, **PATIENT)
    calls: list[int] = []

    @cachectl.cached(ttl=60, prefix="bare")
    async def double(x: int) -> int:
        calls.append(x)
        return 2 * x

    assert [asyncio.run(double(21)) for _ in range(3)] == [42, 42, 42]
    assert calls == [21]
    asyncio.run(cachectl.default.default_async_cache().close())


def test_a_socket_slow_to_close_does_not_fail_close(
    redis_url: str, namespace: str, unraisable: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """redis.asyncio gives a socket socket_connect_timeout to close, then raises TimeoutError;
    on a loaded machine a close of 50 ms is common. close() still returns, and nothing is
    left unclosed once the loop ends."""
    cache = AsyncCache(redis_url, namespace=namespace, connect_timeout=0.05, socket_timeout=1.0)
    wait_closed = asyncio.StreamWriter.wait_closed

    async def slow(writer: asyncio.StreamWriter) -> None:
        await asyncio.sleep(0.2)
        await wait_closed(writer)

    async def use_then_close() -> None:
        await cache.set_many({"a": 1, "b": 2})
        assert await cache.get_many(["a", "b"]) == {"a": 1, "b": 2}
        monkeypatch.setattr(asyncio.StreamWriter, "wait_closed", slow)
        await cache.close()

    asyncio.run(use_then_close())
