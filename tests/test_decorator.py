"""The @cached decorator: keys, handles, single flight, stale-while-revalidate, None cached."""

from __future__ import annotations

import asyncio
import inspect
import os
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

import cachectl
from cachectl import MISS, AsyncCache, Cache, ConfigError, track_cache_status
from cachectl.decorator import calls as decorator_calls
from cachectl.decorator import flights as single_flight
from cachectl.testing import PATIENT
from tests.servers import RedisServer

pytestmark = pytest.mark.usefixtures("watchdog")


class Calls:
    """Counts calls of a decorated function."""

    def __init__(self) -> None:
        self.n = 0
        self.lock = threading.Lock()

    def __call__(self) -> int:
        with self.lock:
            self.n += 1
            return self.n


# -- basics -------------------------------------------------------------------------------------


def test_results_are_cached_by_arguments(cache: Cache) -> None:
    calls = Calls()

    @cache.cached(ttl=60, prefix="sq")
    def square(x: int) -> int:
        calls()
        return x * x

    assert [square(3), square(3), square(4), square(3)] == [9, 9, 16, 9]
    assert calls.n == 2
    assert cache.get(square.key(3)) == 9


def test_key_layout_prefix_qualname_digest(cache: Cache) -> None:
    @cache.cached(ttl=60, prefix="report")
    def build(region: str) -> str:
        return region

    key = build.key("eu")
    prefix, qualname, digest = key.split(":")
    assert prefix == "report"
    assert qualname == f"{__name__}.test_key_layout_prefix_qualname_digest.<locals>.build"
    assert len(digest) == 20
    build("eu")
    assert cache.get(key) == "eu"


def test_key_template(cache: Cache) -> None:
    @cache.cached(ttl=60, prefix="page", key="n={n}")
    def page(n: int) -> list[int]:
        return [n]

    assert page.key(3) == "page:n=3"
    assert page(3) == [3]
    assert cache.get("page:n=3") == [3]


def test_positional_keyword_and_kwargs_order_share_an_entry(cache: Cache) -> None:
    calls = Calls()

    @cache.cached(ttl=60, prefix="kw")
    def f(a: int, b: int = 2, **options: Any) -> int:
        calls()
        return a + b + len(options)

    results = [f(1), f(1, 2), f(a=1), f(b=2, a=1), f(1, x=1, y=2), f(1, y=2, x=1)]
    assert results == [3, 3, 3, 3, 5, 5]
    assert calls.n == 2
    assert f.key(1) == f.key(b=2, a=1)
    assert f.key(1, x=1, y=2) == f.key(1, y=2, x=1)


def test_none_result_is_cached(cache: Cache) -> None:
    calls = Calls()

    @cache.cached(ttl=60, prefix="none")
    def find(x: int) -> None:
        calls()

    assert find(1) is None
    assert find(1) is None
    assert calls.n == 1
    assert cache.get(find.key(1), MISS) is None


def test_exceptions_are_not_cached(cache: Cache) -> None:
    calls = Calls()

    @cache.cached(ttl=60, prefix="err")
    def fail(x: int) -> int:
        calls()
        raise ValueError(x)

    for _ in range(2):
        with pytest.raises(ValueError):
            fail(1)
    assert calls.n == 2
    assert cache.get(fail.key(1), MISS) is MISS


def test_invalidate_removes_one_call(cache: Cache) -> None:
    calls = Calls()

    @cache.cached(ttl=60, prefix="inv")
    def f(x: int) -> int:
        return x * 10 + calls()

    assert f(1) == 11
    assert f(2) == 22
    assert f.invalidate(1) == 1
    assert f.invalidate(1) == 0
    assert f(1) == 13
    assert f(2) == 22


def test_tag_templates_from_arguments(cache: Cache) -> None:
    calls = Calls()

    @cache.cached(ttl=60, prefix="profile", tags=("user:{user_id}",))
    def profile(user_id: int) -> int:
        return calls()

    @cache.cached(ttl=60, prefix="orders", tags=("user:{user_id}", "orders"))
    def orders(user_id: int) -> int:
        return calls()

    profile(42), orders(42), profile(43)
    assert calls.n == 3
    assert cache.invalidate_tag("user:42") == 2
    profile(42), orders(42), profile(43)
    assert calls.n == 5


def test_ttl_and_stale_validation() -> None:
    with pytest.raises(ConfigError):
        cachectl.cached(stale=5)
    with pytest.raises(ConfigError):
        cachectl.cached(ttl=5, stale=0)
    with pytest.raises(ConfigError):
        cachectl.cached(ttl=5, tags="user:1")(lambda: None)


def test_sync_cache_refuses_a_coroutine_function() -> None:
    with Cache("memory://", namespace="mix") as cache:

        @cache.cached(ttl=60)
        async def coro() -> int:
            return 1

        with pytest.raises(ConfigError):
            asyncio.run(coro())


def test_track_cache_status(cache: Cache) -> None:
    @cache.cached(ttl=60, prefix="x")
    def f(x: int) -> int:
        return x

    with track_cache_status() as seen:
        f(1), f(1)
    assert seen == ["MISS", "HIT"]


# -- methods ------------------------------------------------------------------------------------


def test_methods_are_cached_without_self_in_the_key(cache: Cache) -> None:
    calls = Calls()

    class Repo:
        @cache.cached(ttl=60, prefix="repo")
        def find(self, x: int) -> int:
            calls()
            return x

        @classmethod
        @cache.cached(ttl=60, prefix="repo")
        def count(cls, x: int) -> int:
            calls()
            return -x

    assert Repo().find(1) == Repo().find(1) == 1
    assert Repo.count(2) == Repo().count(2) == -2
    assert calls.n == 2
    assert Repo.find.key(Repo(), 1) == Repo.find.key(None, 1)
    assert Repo.find.invalidate(Repo(), 1) == 1


def test_method_handles_through_an_instance(cache: Cache) -> None:
    class Repo:
        @cache.cached(ttl=60, prefix="repo")
        def find(self, x: int) -> int:
            return x

    repo = Repo()
    repo.find(1)
    assert repo.find.key(1) == Repo.find.key(repo, 1)
    assert repo.find.invalidate(1) == 1


# -- single flight ------------------------------------------------------------------------------


@pytest.fixture
def leads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Keys passed to the single-flight registry, so a test knows all callers have arrived."""
    seen: list[str] = []
    for cls in (single_flight.Flights, single_flight.AsyncFlights):
        original = cls.lead

        def lead(self: Any, key: str, _original: Any = original) -> Any:
            seen.append(key)
            return _original(self, key)

        monkeypatch.setattr(cls, "lead", lead)
    return seen


def _wait_for(predicate: Any, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.002)


def test_concurrent_misses_compute_once_in_threads(cache: Cache, leads: list[str]) -> None:
    calls = Calls()
    release = threading.Event()

    @cache.cached(ttl=60, prefix="sf")
    def slow(x: int) -> dict[str, int]:
        calls()
        assert release.wait(10)
        return {"x": x}

    with ThreadPoolExecutor(8) as pool:
        futures = [pool.submit(slow, 1) for _ in range(8)]
        _wait_for(lambda: len(leads) == 8)
        release.set()
        results = [f.result(timeout=10) for f in futures]
    assert results == [{"x": 1}] * 8
    assert calls.n == 1
    assert slow(1) == {"x": 1}
    assert calls.n == 1


def test_single_flight_shares_the_exception(cache: Cache, leads: list[str]) -> None:
    calls = Calls()
    release = threading.Event()

    @cache.cached(ttl=60, prefix="sfe")
    def broken() -> int:
        calls()
        assert release.wait(10)
        raise RuntimeError("backend down")

    with ThreadPoolExecutor(4) as pool:
        futures = [pool.submit(broken) for _ in range(4)]
        _wait_for(lambda: len(leads) == 4)
        release.set()
        errors = [f.exception(timeout=10) for f in futures]
    assert all(isinstance(e, RuntimeError) for e in errors)
    assert calls.n == 1


async def test_concurrent_misses_compute_once_with_gather(
    acache: AsyncCache, leads: list[str]
) -> None:
    calls = Calls()
    release = asyncio.Event()

    @acache.cached(ttl=60, prefix="asf")
    async def slow(x: int) -> list[int]:
        calls()
        await release.wait()
        return [x]

    async def open_when_all_arrived() -> None:
        while len(leads) < 10:
            await asyncio.sleep(0.001)
        release.set()

    results = await asyncio.gather(*(slow(5) for _ in range(10)), open_when_all_arrived())
    assert results[:10] == [[5]] * 10
    assert calls.n == 1
    assert await slow(5) == [5]
    assert calls.n == 1


# -- stale-while-revalidate ---------------------------------------------------------------------


def test_stale_entry_is_served_while_one_caller_recomputes(
    cache: Cache, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = Calls()
    started, release = threading.Event(), threading.Event()

    @cache.cached(ttl=1, prefix="swr", stale=60)
    def value() -> int:
        n = calls()
        if n > 1:
            started.set()
            assert release.wait(10)
        return n

    assert value() == 1
    real_now = decorator_calls.now_ms
    monkeypatch.setattr(decorator_calls, "now_ms", lambda: real_now() + 5_000)  # past ttl
    with ThreadPoolExecutor(1) as pool:
        refresher = pool.submit(value)
        assert started.wait(10)
        assert value() == 1  # stale, served at once: somebody is already recomputing
        assert value() == 1
        assert calls.n == 2
        release.set()
        assert refresher.result(timeout=10) == 2
    monkeypatch.setattr(decorator_calls, "now_ms", real_now)
    assert value() == 2
    assert calls.n == 2


def test_stale_entry_is_gone_after_ttl_plus_stale(cache: Cache) -> None:
    calls = Calls()

    @cache.cached(ttl=0.05, prefix="swr2", stale=0.05)
    def value() -> int:
        return calls()

    assert value() == 1
    time.sleep(0.4)
    assert value() == 2


async def test_async_stale_entry_is_served_while_one_caller_recomputes(
    acache: AsyncCache, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = Calls()
    started, release = asyncio.Event(), asyncio.Event()

    @acache.cached(ttl=1, prefix="aswr", stale=60)
    async def value() -> int:
        n = calls()
        if n > 1:
            started.set()
            await release.wait()
        return n

    assert await value() == 1
    real_now = decorator_calls.now_ms
    monkeypatch.setattr(decorator_calls, "now_ms", lambda: real_now() + 5_000)
    refresher = asyncio.create_task(value())
    await asyncio.wait_for(started.wait(), 10)
    assert await value() == 1
    assert calls.n == 2
    release.set()
    assert await refresher == 2
    monkeypatch.setattr(decorator_calls, "now_ms", real_now)
    assert await value() == 2


# -- async functions ----------------------------------------------------------------------------


async def test_async_functions_and_handles(acache: AsyncCache) -> None:
    calls = Calls()

    @acache.cached(ttl=60, prefix="af", tags=("item:{x}",))
    async def fetch(x: int, *, verbose: bool = False) -> tuple[int, bool]:
        calls()
        return (x, verbose)

    assert await fetch(1) == (1, False)
    assert await fetch(x=1, verbose=False) == (1, False)
    assert calls.n == 1
    assert await acache.get(fetch.key(1)) == (1, False)
    assert await fetch.invalidate(1) == 1
    await fetch(1)
    assert calls.n == 2
    assert await acache.invalidate_tag("item:1") == 1


async def test_async_none_is_cached(acache: AsyncCache) -> None:
    calls = Calls()

    @acache.cached(ttl=60)
    async def nothing() -> None:
        calls()

    assert await nothing() is None
    assert await nothing() is None
    assert calls.n == 1


async def test_async_methods(acache: AsyncCache) -> None:
    calls = Calls()

    class Service:
        @acache.cached(ttl=60, prefix="svc")
        async def get(self, x: int) -> int:
            calls()
            return x

    assert await Service().get(1) == await Service().get(1) == 1
    assert calls.n == 1
    assert await Service.get.invalidate(Service(), 1) == 1


# -- the bare decorator and the process-wide default ------------------------------------------


@pytest.mark.usefixtures("default_reset")
def test_bare_decorator_uses_configure(backend_url: str, namespace: str) -> None:
    calls = Calls()

    @cachectl.cached(ttl=60, prefix="bare")
    def f(x: int) -> int:
        calls()
        return x

    cachectl.configure(url=backend_url, namespace=namespace, **PATIENT)
    assert f(1) == f(1) == 1
    assert calls.n == 1
    cache = cachectl.default_cache()
    assert cache.namespace == namespace
    assert cache.config.url == backend_url
    assert cache.get(f.key(1)) == 1
    assert f.invalidate(1) == 1


@pytest.mark.usefixtures("default_reset")
async def test_bare_decorator_on_a_coroutine_function(backend_url: str, namespace: str) -> None:
    calls = Calls()

    @cachectl.cached(ttl=60, prefix="abare")
    async def f(x: int) -> int:
        calls()
        return x

    cachectl.configure(backend_url, namespace=namespace, **PATIENT)
    try:
        assert await f(2) == await f(2) == 2
        assert calls.n == 1
        assert await cachectl.default_async_cache().get(f.key(2)) == 2
    finally:
        await cachectl.default_async_cache().close()


@pytest.mark.usefixtures("default_reset")
def test_bare_decorator_reads_cachectl_url(
    redis_server: RedisServer, redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CACHECTL_URL", redis_url)

    @cachectl.cached(ttl=60, prefix="env")
    def f(x: int) -> int:
        return x

    cachectl.configure(namespace="fromenv", **PATIENT)
    assert f(7) == 7
    with redis_server.client() as raw:
        assert raw.exists(f"fromenv:{f.key(7)}".encode())


@pytest.mark.usefixtures("default_reset")
def test_default_is_the_embedded_store_without_configuration() -> None:
    @cachectl.cached(ttl=60)
    def f() -> int:
        return 1

    assert f() == 1
    assert cachectl.default_cache().config.is_memory


# -- keys are stable across processes ---------------------------------------------------------

KEYS_MODULE = """
import datetime as dt
import uuid
from decimal import Decimal

from cachectl import Cache

cache = Cache("memory://", namespace="stable")


@cache.cached(ttl=60, prefix="p")
def report(regions, *, filters=None, since=None, **extra):
    return None


class Repo:
    @cache.cached(ttl=60, prefix="m")
    def find(self, ids, flags):
        return None


def report_keys():
    return [
        report.key({"eu", "us", "apac", "latam"}, filters={"b": [1, (2, 3)], "a": {"x", "y"}}),
        report.key(frozenset({"α", "β", "γ"}), since=dt.datetime(2024, 1, 1, tzinfo=dt.UTC)),
        report.key(("t", 1), owner=uuid.UUID(int=9), price=Decimal("1.50"), alpha=2, zeta=1),
        Repo.find.key(None, {"k1", "k2", "k3"}, {"off": False, "on": True}),
    ]
"""


def _keys_in_subprocess(module_dir: Path, seed: str) -> list[str]:
    code = "import stable_keys\nprint('\\n'.join(stable_keys.report_keys()))\n"
    env = {**os.environ, "PYTHONHASHSEED": seed}
    env["PYTHONPATH"] = os.pathsep.join([str(module_dir), *sys.path])
    result = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.split()


@pytest.fixture
def stable_keys(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    (tmp_path / "stable_keys.py").write_text(textwrap.dedent(KEYS_MODULE))
    monkeypatch.syspath_prepend(str(tmp_path))
    yield tmp_path
    module = sys.modules.pop("stable_keys", None)
    if module is not None:
        module.cache.close()


def test_keys_are_stable_across_processes_and_hash_seeds(stable_keys: Path) -> None:
    import stable_keys as module  # type: ignore[import-not-found]

    here = module.report_keys()
    assert len(set(here)) == 4
    for seed in ("0", "1", "4242"):
        assert _keys_in_subprocess(stable_keys, seed) == here


async def test_a_cancelled_leader_hands_the_computation_to_a_waiting_caller(
    acache: AsyncCache,
) -> None:
    started = asyncio.Event()
    calls: list[int] = []

    @acache.cached(ttl=60, prefix="handover")
    async def slow(n: int) -> int:
        calls.append(n)
        started.set()
        await asyncio.sleep(0.2)
        return n * 10

    leader = asyncio.create_task(slow(1))
    await started.wait()
    followers = [asyncio.create_task(slow(1)) for _ in range(3)]
    await asyncio.sleep(0.01)
    leader.cancel()
    with pytest.raises(asyncio.CancelledError):
        await leader
    # The followers were not cancelled: one of them computes, the others share its result.
    assert await asyncio.gather(*followers) == [10, 10, 10]
    assert calls == [1, 1]
    assert await acache.get(slow.key(1)) == 10


async def test_a_cached_coroutine_method_is_seen_as_async_by_frameworks(acache: AsyncCache) -> None:
    class Repo:
        @acache.cached(ttl=60, prefix="repo")
        async def find(self, x: int) -> int:
            return x

    repo = Repo()
    # Starlette and FastAPI decide how to call an endpoint from its __call__.
    assert inspect.iscoroutinefunction(repo.find.__call__)
    assert inspect.iscoroutinefunction(Repo.find.__call__)
    assert await repo.find(4) == 4
    assert await repo.find.invalidate(4) == 1


async def test_a_read_answered_before_the_leader_stored_does_not_compute_again(
    acache: AsyncCache,
) -> None:
    # The late caller's read misses before the leader stores, and reaches it only after that
    # flight ended (a slow reply, a busy loop): it found no flight and computed again.
    calls: list[int] = []

    @acache.cached(ttl=60, prefix="sq")
    async def square(x: int) -> int:
        calls.append(x)
        await asyncio.sleep(0.01)
        return x * x

    read, ended = acache.lookup, asyncio.Event()

    async def lookup(key: str) -> Any:
        found = await read(key)
        if asyncio.current_task().get_name() == "late":  # type: ignore[union-attr]
            await ended.wait()
        return found

    acache.lookup = lookup  # type: ignore[method-assign]
    leader = asyncio.create_task(square(3))
    late = asyncio.create_task(square(3), name="late")
    assert await leader == 9
    ended.set()
    assert await late == 9
    assert calls == [3]


def test_a_read_answered_before_the_leader_stored_does_not_compute_again_sync(
    cache: Cache,
) -> None:
    calls: list[int] = []

    @cache.cached(ttl=60, prefix="sq")
    def square(x: int) -> int:
        calls.append(x)
        time.sleep(0.01)
        return x * x

    read, ended, began = cache.lookup, threading.Event(), threading.Event()

    def lookup(key: str) -> Any:
        found = read(key)
        if threading.current_thread().name == "late":
            began.set()
            ended.wait(10)
        return found

    cache.lookup = lookup  # type: ignore[method-assign]
    results: list[int] = []
    late = threading.Thread(target=lambda: results.append(square(3)), name="late")
    late.start()
    assert began.wait(10)
    assert square(3) == 9
    ended.set()
    late.join(10)
    assert results == [9] and calls == [3]
