"""incr/decr on a real redis-server and cluster: atomic across clients, self-describing on disk."""

from __future__ import annotations

import asyncio
import threading

import pytest
import redis

from cachectl import AsyncCache, Cache
from cachectl.codec import PLAIN_HEADER, Codec
from tests.plugins.core import VERY_PATIENT


@pytest.fixture(params=["redis", pytest.param("cluster", marks=pytest.mark.cluster)])
def url(request: pytest.FixtureRequest) -> str:
    name = "redis_url" if request.param == "redis" else "cluster_url"
    return str(request.getfixturevalue(name))


def test_increments_from_many_clients_are_never_lost(url: str) -> None:
    caches = [Cache(url, namespace="count", **VERY_PATIENT) for _ in range(4)]
    caches[0].set("hits", 0)

    def work(cache: Cache) -> None:
        for _ in range(100):
            cache.incr("hits")

    threads = [threading.Thread(target=work, args=(c,)) for c in caches]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert caches[0].get("hits") == 400
    for cache in caches:
        cache.close()


async def test_async_increments_are_never_lost(url: str) -> None:
    async with AsyncCache(url, namespace="acount", **VERY_PATIENT) as a:
        await a.set("hits", 10)
        # Fewer at once than the pool holds: the async cluster client refuses past it.
        incrs = [a.incr("hits") for _ in range(15)]
        await asyncio.gather(*incrs, *(a.decr("hits") for _ in range(5)))
        assert await a.get("hits") == 20


def test_the_stored_counter_is_the_library_format(url: str) -> None:
    with Cache(url, namespace="fmt", **VERY_PATIENT) as c:
        c.set("n", 41)
        assert c.incr("n") == 42
        raw = c.backend.client.get(b"fmt:n")  # type: ignore[attr-defined]
        assert raw == PLAIN_HEADER + b"\x2a"
        assert Codec().decode(raw) == 42


@pytest.mark.parametrize("foreign", [b"10", b"\xc1\x01\x01\x0a", b"\xc1\x01\x00\x0a\x0b", b""])
def test_a_value_written_by_someone_else_is_no_counter(
    redis_url: str, raw_redis: redis.Redis, foreign: bytes
) -> None:
    # Redis's own integers, compressed payloads, trailing bytes: refused, left as they were.
    with Cache(redis_url, namespace="foreign", **VERY_PATIENT) as c:
        raw_redis.set(b"foreign:n", foreign)
        with pytest.raises(TypeError):
            c.incr("n")
        assert raw_redis.get(b"foreign:n") == foreign
        assert c.breaker_state.value == "closed"


def test_where_scripts_are_refused_increments_are_still_atomic(no_script_url: str) -> None:
    caches = [Cache(no_script_url, namespace="noscript", **VERY_PATIENT) for _ in range(4)]
    caches[0].set("hits", 0, ttl=600)
    with pytest.raises(redis.exceptions.NoPermissionError):
        caches[0].backend.client.eval("return 1", 0)  # type: ignore[attr-defined]

    def work(cache: Cache) -> None:
        for _ in range(50):
            cache.incr("hits")

    threads = [threading.Thread(target=work, args=(c,)) for c in caches]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    c = caches[0]
    assert c.get("hits") == 200
    left = c.ttl("hits")
    assert isinstance(left, float) and 0 < left <= 600
    with pytest.raises(ValueError):
        c.incr("missing")
    c.set("text", "ten")
    with pytest.raises(TypeError):
        c.incr("text")
    assert c.breaker_state.value == "closed"
    for cache in caches:
        cache.close()


async def test_async_where_scripts_are_refused(no_script_url: str) -> None:
    async with AsyncCache(no_script_url, namespace="anoscript", **VERY_PATIENT) as a:
        await a.set("hits", 1)
        await asyncio.gather(*(a.incr("hits") for _ in range(10)))
        assert await a.decr("hits", 3) == 8
        with pytest.raises(ValueError):
            await a.incr("missing")
