"""The shipped conformance suite (cachectl.testing) on every built-in backend, both faces,
with the breaker closed and held open."""

from __future__ import annotations

import pytest

from cachectl import AsyncCache, Cache
from cachectl.testing import CacheConformance


class TestMemory(CacheConformance):
    @pytest.fixture
    def cache_url(self) -> str:
        return "memory://"


class TestRedis(CacheConformance):
    @pytest.fixture
    def cache_url(self, redis_url: str) -> str:
        return redis_url


@pytest.mark.cluster
class TestCluster(CacheConformance):
    @pytest.fixture
    def cache_url(self, cluster_url: str) -> str:
        return cluster_url


async def test_async_get_or_set_awaits_a_coroutine_default(acache: AsyncCache) -> None:
    calls: list[int] = []

    async def compute() -> str:
        calls.append(1)
        return "computed"

    assert await acache.get_or_set("g", compute) == "computed"
    assert await acache.get_or_set("g", compute) == "computed"
    assert calls == [1]


def test_in_on_the_sync_face(cache: Cache) -> None:
    cache.set("k", 0)
    assert "k" in cache and "other" not in cache


#: A backend whose every write the server refuses (a WRONGTYPE), run through the shipped suite.
HIDDEN_REFUSAL = """
import pytest
import redis

from cachectl.testing import CacheConformance, Face

URL = {url!r}


class TestRefused(CacheConformance):
    @pytest.fixture
    def cache_url(self) -> str:
        return URL

    def test_a_write_the_server_refuses(self, c: Face) -> None:
        with redis.Redis.from_url(URL) as client:
            client.rpush(c.cache.keys.tag("t"), b"not a set")  # SADD to it: WRONGTYPE
        c.set("k", 1, tags=("t",))  # raises nothing: alone, this test would pass
"""


def test_the_kit_fails_a_test_whose_backend_refused_a_call(
    pytester: pytest.Pytester, redis_url: str
) -> None:
    # Only public names: the kit watches the backend's errors, not the cache's private methods.
    pytester.makepyfile(test_refused=HIDDEN_REFUSAL.format(url=redis_url))
    result = pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", "-p", "no:asyncio", "-k", "test_a_write_the_server_refuses"
    )
    # The closed faces fail at teardown and name the refusal; on the open ones there is none.
    result.assert_outcomes(passed=4, errors=2)
    result.stdout.fnmatch_lines(["*the backend refused a call, and the fallback hid it*"])
