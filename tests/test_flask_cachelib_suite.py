"""cachelib's own CommonTests, ClearTests and HasTests (vendored) against CachectlCache.

Each runs on the embedded store and on a real redis-server, with and without a key prefix as
cachelib's Redis tests do (its expiration test sleeps 4 s, so each backend runs it once).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import pytest

pytest.importorskip("cachelib")

from cachectl.contrib.cachelib import CachectlCache
from cachectl.testing import PATIENT
from tests.vendor.cachelib_tests.clear import ClearTests
from tests.vendor.cachelib_tests.common import CommonTests
from tests.vendor.cachelib_tests.has import HasTests


@pytest.fixture(
    autouse=True,
    params=[("memory", None), ("redis", "test-key-prefix:")],
    ids=["memory", "redis-with-key-prefix"],
)
def cache_factory(request: pytest.FixtureRequest) -> None:
    kind, key_prefix = request.param
    url = "memory://" if kind == "memory" else request.getfixturevalue("redis_url")
    made: list[CachectlCache] = []

    def factory(self: object, *args: Any, **kwargs: Any) -> CachectlCache:
        kwargs.setdefault("key_prefix", key_prefix or "")
        # A namespace per cache: the embedded store is per Cache, Redis is flushed per test.
        cache = CachectlCache(url, namespace=f"cl-{uuid.uuid4().hex[:8]}", **PATIENT, **kwargs)
        made.append(cache)
        return cache

    request.cls.cache_factory = factory
    request.addfinalizer(lambda: [c.close() for c in made])


class TestCachectlCachelib(CommonTests, ClearTests, HasTests):  # type: ignore[misc]
    cache_factory: Callable[..., CachectlCache]
