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
