"""Values over max_value_size as a user meets them on a real redis-server: the write is refused,
the old value is gone from Redis (also when the breaker was open and the deletion was owed),
and Django and Flask applications keep serving (their frameworks' contracts, no 500)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
import redis

from cachectl import AsyncCache, Cache, ValueTooLarge
from cachectl.testing import PATIENT

LIMIT = 4096
BIG = "x" * (2 * LIMIT)  # compresses to far below LIMIT: the limit is on the encoded size


def test_a_refused_write_sends_nothing_and_removes_the_old_value_from_redis(
    raw_redis: redis.Redis, redis_url: str, namespace: str
) -> None:
    with Cache(redis_url, namespace=namespace, max_value_size=LIMIT, **PATIENT) as cache:
        cache.set("report:1", "old", tags=("reports",))
        assert raw_redis.exists(f"{namespace}:report:1".encode())
        with pytest.raises(ValueTooLarge, match=r"'report:1'.*max_value_size \(4096 bytes\)"):
            cache.set("report:1", BIG, tags=("reports",))
        assert not raw_redis.exists(f"{namespace}:report:1".encode())
        # Another process, with the same limit, reads a miss rather than the stale value.
        with Cache(redis_url, namespace=namespace, max_value_size=LIMIT, **PATIENT) as other:
            assert other.get("report:1", "absent") == "absent"
        assert cache.stats()["report"].errors == 1
        assert cache.stats()["report"].sets == 1


def test_an_async_refused_set_many_writes_the_rest_to_redis(
    raw_redis: redis.Redis, redis_url: str, namespace: str
) -> None:
    async def run() -> tuple[ValueTooLarge, dict[Any, Any]]:
        async with AsyncCache(
            redis_url, namespace=namespace, max_value_size=LIMIT, **PATIENT
        ) as cache:
            await cache.set_many({"r:1": "old", "r:2": "old"})
            with pytest.raises(ValueTooLarge) as refused:
                await cache.set_many({"r:1": "new", "r:2": BIG, "r:3": BIG})
            return refused.value, await cache.get_many(["r:1", "r:2", "r:3"])

    error, found = asyncio.run(run())
    assert error.keys == ("r:2", "r:3")
    assert found == {"r:1": "new"}
    assert sorted(set(raw_redis.scan_iter(f"{namespace}:r:*".encode()))) == [
        f"{namespace}:r:1".encode()
    ]


@pytest.mark.parametrize("face", ["sync", "async"])
def test_a_write_refused_during_an_outage_removes_the_old_value_once_redis_is_back(
    raw_redis: redis.Redis, redis_url: str, namespace: str, face: str
) -> None:
    options = {**PATIENT, "max_value_size": LIMIT, "recovery_interval": 0.05}
    full = f"{namespace}:page:1".encode()
    raw_redis.set(full, b"\xc1\x01\x00\xa3old")  # what a set("page:1", "old") stores

    def recovered(get: Any) -> Any:
        # The breaker probes after recovery_interval; the owed deletion is replayed first.
        deadline = time.monotonic() + 10
        while raw_redis.exists(full) and time.monotonic() < deadline:
            get("page:1", "absent")
            time.sleep(0.06)
        return get("page:1", "absent")

    if face == "sync":
        with Cache(redis_url, namespace=namespace, **options) as cache:
            assert cache.get("page:1") == "old"
            cache.breaker.trip()  # as a failing Redis would
            with pytest.raises(ValueTooLarge):
                cache.set("page:1", BIG)
            assert cache.get("page:1", "absent") == "absent"  # the fallback answers
            assert recovered(cache.get) == "absent"
    else:

        async def run() -> Any:
            async with AsyncCache(redis_url, namespace=namespace, **options) as cache:
                assert await cache.get("page:1") == "old"
                cache.breaker.trip()
                with pytest.raises(ValueTooLarge):
                    await cache.set("page:1", BIG)
                assert await cache.get("page:1", "absent") == "absent"
                for _ in range(150):
                    if not raw_redis.exists(full):
                        break
                    await cache.get("page:1", "absent")
                    await asyncio.sleep(0.06)
                return await cache.get("page:1", "absent")

        assert asyncio.run(run()) == "absent"
    assert not raw_redis.exists(full)


# -- Django: memcached's contract (a failed set leaves no old value, set_many names failures) ---


@pytest.fixture
def dj(backend_url: str, namespace: str) -> Any:
    pytest.importorskip("django")
    from tests.vendor.django_cache import configure

    configure()
    from cachectl.contrib.django import CachectlCache

    options = {"namespace": namespace, "max_value_size": LIMIT, **PATIENT}
    return CachectlCache(backend_url, {"OPTIONS": options, "KEY_PREFIX": "site"})


def test_django_too_large_values_follow_its_memcached_backend(dj: Any) -> None:
    dj.set("k", "old")
    assert dj.set("k", BIG) is None  # no exception: a cache miss later, as with memcached
    assert dj.get("k", "absent") == "absent"
    assert dj.add("k", BIG) is False
    assert dj.get_or_set("k", BIG) == BIG  # Django's get_or_set: the default, uncached
    assert not dj.has_key("k")
    dj.set_many({"a": "old", "b": "old"})
    assert dj.set_many({"a": 1, "b": BIG, "c": BIG}) == ["b", "c"]
    assert dj.get_many(["a", "b", "c"]) == {"a": 1}


def test_django_async_too_large_values(dj: Any) -> None:
    async def run() -> list[Any]:
        await dj.aset("k", "old")
        await dj.aset("k", BIG)
        return [
            await dj.aget("k", "absent"),
            await dj.aadd("k", BIG),
            await dj.aget_or_set("k", BIG),
            await dj.aset_many({"a": 1, "b": BIG}),
            await dj.aget_many(["a", "b"]),
        ]

    assert asyncio.run(run()) == ["absent", False, BIG, ["b"], {"a": 1}]


def test_cache_page_serves_a_response_too_large_to_cache(dj: Any) -> None:
    from django.http import HttpRequest, HttpResponse
    from django.test import RequestFactory, override_settings
    from django.views.decorators.cache import cache_page

    calls: list[int] = []

    def view(request: HttpRequest) -> HttpResponse:
        calls.append(1)
        return HttpResponse(BIG)

    location = "memory://"
    config = {
        "default": {
            "BACKEND": "cachectl.contrib.django.CachectlCache",
            "LOCATION": location,
            "OPTIONS": {"max_value_size": LIMIT, "namespace": "pages"},
        }
    }
    with override_settings(CACHES=config):
        cached_view = cache_page(60)(view)
        responses = [cached_view(RequestFactory().get("/big")) for _ in range(2)]
    assert [r.status_code for r in responses] == [200, 200]
    assert all(r.content == BIG.encode() for r in responses)
    assert calls == [1, 1]


# -- Flask (cachelib): set and add say False, set_many leaves the key out ------------------------


def test_cachelib_too_large_values(backend_url: str, namespace: str) -> None:
    pytest.importorskip("cachelib")
    from cachectl.contrib.cachelib import CachectlCache

    cl = CachectlCache(backend_url, namespace=namespace, max_value_size=LIMIT, **PATIENT)
    try:
        assert cl.set("k", "old") is True
        assert cl.set("k", BIG) is False
        assert cl.get("k") is None
        assert cl.add("k", BIG) is False
        assert not cl.has("k")
        assert cl.set_many({"a": 1, "b": BIG}) == ["a"]
        assert cl.get_many("a", "b") == [1, None]
    finally:
        cl.close()
