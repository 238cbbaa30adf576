"""The near cache from Django's OPTIONS and from cachelib's (Flask-Caching's) options."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

pytest.importorskip("django")
pytest.importorskip("flask_caching")

from tests.vendor.django_cache import configure

configure()

from django.test import override_settings  # noqa: E402

from cachectl.contrib.cachelib import CachectlCache as CachelibCache  # noqa: E402
from cachectl.contrib.django import CachectlCache  # noqa: E402
from tests.servers import RedisServer  # noqa: E402

pytestmark = pytest.mark.usefixtures("watchdog")

PATIENT = {"socket_timeout": 2.0, "connect_timeout": 2.0, "pool_timeout": 2.0}


def gets(server: RedisServer) -> int:
    with server.client() as raw:
        return int(raw.info("commandstats").get("cmdstat_get", {"calls": 0})["calls"])


def until_held(read: Any, near: Any, full: bytes) -> None:
    deadline = time.monotonic() + 10
    while full not in near.entries:
        read()
        assert time.monotonic() < deadline, "the near cache never held the key"
        time.sleep(0.01)


def test_django_options_take_near_cache_and_both_faces_share_it(
    redis_server: RedisServer, redis_url: str, namespace: str
) -> None:
    options = {"namespace": namespace, "near_cache": {"max_entries": 100}, **PATIENT}
    config = {"BACKEND": "cachectl.contrib.django.CachectlCache", "LOCATION": redis_url,
              "OPTIONS": options}  # fmt: skip
    with override_settings(CACHES={"default": config}):
        from django.core.cache import caches

        cache = caches["default"]
        assert isinstance(cache, CachectlCache)
        shared = cache._shared
        near = shared.sync.near
        assert near is not None and near.max_entries == 100
        assert shared.asynchronous.near is near
        cache.set("k", 1)
        until_held(lambda: cache.get("k"), near, shared.sync.keys.full(cache.make_key("k")))
        before = gets(redis_server)
        assert [cache.get("k") for _ in range(20)] == [1] * 20
        assert gets(redis_server) == before
        # An async view's write is read at once by a sync one: one near cache.
        asyncio.run(cache.aset("k", 2))
        assert cache.get("k") == 2


def test_django_refuses_a_bad_near_cache_setting(redis_url: str, namespace: str) -> None:
    from django.core.exceptions import ImproperlyConfigured

    with pytest.raises(ImproperlyConfigured, match="near_cache"):
        CachectlCache(redis_url, {"OPTIONS": {"namespace": namespace, "near_cache": "yes"}})
    with pytest.raises(ImproperlyConfigured, match="max_entires"):
        CachectlCache(
            redis_url, {"OPTIONS": {"namespace": namespace, "near_cache": {"max_entires": 5}}}
        )


def test_cachelib_options_take_near_cache(
    redis_server: RedisServer, redis_url: str, namespace: str
) -> None:
    cache = CachelibCache(redis_url, namespace=namespace, near_cache=True, **PATIENT)
    try:
        near = cache.cachectl.near
        assert near is not None
        cache.set("k", "v")
        until_held(lambda: cache.get("k"), near, cache.cachectl.keys.full("k"))
        before = gets(redis_server)
        assert [cache.get("k") for _ in range(20)] == ["v"] * 20
        assert gets(redis_server) == before
        cache.set("k", "w")
        assert cache.get("k") == "w"
    finally:
        cache.close()
