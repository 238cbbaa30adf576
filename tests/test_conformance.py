"""The shipped conformance suite (cachectl.testing) on every built-in backend, both faces,
with the breaker closed and held open."""

from __future__ import annotations

import pytest

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
