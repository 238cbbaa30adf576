"""The bounded connection pools: a bounded wait for a free connection, and fork safety."""

from __future__ import annotations

import os
import threading

import pytest

from cachectl import MISS, Cache
from cachectl.backends.redis.pool import BoundedPool
from tests.servers import RedisServer

pytestmark = pytest.mark.usefixtures("watchdog")


def _pool(cache: Cache) -> BoundedPool:
    pool = cache.backend.client.connection_pool  # type: ignore[attr-defined]
    assert isinstance(pool, BoundedPool)
    return pool


def test_an_exhausted_pool_waits_then_fails_over(redis_url: str) -> None:
    with Cache(redis_url, namespace="pool", max_connections=1, pool_timeout=0.2) as cache:
        cache.set("k", "v")
        held = _pool(cache).get_connection()
        try:
            assert cache.get("k", "default") == "default"
            assert cache.stats()["k"].errors == 1
        finally:
            _pool(cache).release(held)
        cache.breaker.success()
        assert cache.get("k") == "v"


def test_a_released_connection_goes_to_a_waiting_caller(redis_url: str) -> None:
    with Cache(redis_url, namespace="pool", max_connections=1, pool_timeout=5.0) as cache:
        cache.set("k", "v")
        pool = _pool(cache)
        held = pool.get_connection()
        threading.Timer(0.2, pool.release, (held,)).start()
        assert cache.get("k", MISS) == "v"
        assert cache.stats()["k"].errors == 0


def test_threads_share_a_small_pool(redis_url: str) -> None:
    with Cache(redis_url, namespace="pool", max_connections=2, pool_timeout=5.0) as cache:
        cache.set_many({f"k:{i}": i for i in range(20)})
        results: list[object] = []

        def read() -> None:
            for i in range(20):
                results.append(cache.get(f"k:{i}", MISS))

        threads = [threading.Thread(target=read) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert sorted(results) == sorted(list(range(20)) * 8)  # type: ignore[type-var]
        assert len(_pool(cache)._available_connections) <= 2


def test_a_forked_child_makes_its_own_connections(redis_server: RedisServer) -> None:
    with Cache(redis_server.url, namespace="fork", socket_timeout=2.0) as cache:
        cache.set("k", "parent")
        pid = os.fork()
        if pid == 0:  # the child: the parent's socket must not be shared
            try:
                ok = cache.get("k") == "parent"
                cache.set("child", "wrote")
                os._exit(0 if ok and cache.get("child") == "wrote" else 1)
            except BaseException:
                os._exit(2)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
        for _ in range(50):  # the parent's connection still answers in step
            assert cache.get("k") == "parent"
        assert cache.get("child") == "wrote"


def test_a_read_cut_short_never_answers_the_next_command(
    redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A signal or a task's time limit landing between sending a GET and reading its reply.
    with Cache(redis_url, namespace="cut", max_connections=1, socket_timeout=2.0) as cache:
        cache.set_many({"a": "A", "b": "B"})
        pool = _pool(cache)
        connection = pool.get_connection()
        pool.release(connection)

        def interrupted(*args: object, **kwargs: object) -> None:
            raise KeyboardInterrupt

        monkeypatch.setattr(connection, "read_response", interrupted)
        with pytest.raises(KeyboardInterrupt):
            cache.get("a")
        monkeypatch.undo()
        assert cache.get("b") == "B"
        assert cache.get_many(["a", "b"]) == {"a": "A", "b": "B"}


def test_threads_making_the_client_at_once_share_one(redis_url: str) -> None:
    with Cache(redis_url, namespace="race", socket_timeout=2.0) as cache:
        cache.set("k", "v")
        cache.backend.close()
        barrier = threading.Barrier(8)
        results: list[object] = []

        def first_use() -> None:
            barrier.wait()
            results.append(cache.get("k", MISS))

        threads = [threading.Thread(target=first_use) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert results == ["v"] * 8
        assert cache.stats()["k"].errors == 0
