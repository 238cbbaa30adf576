"""Shared fixtures. Sectioned by topic; add new fixtures under the section they belong to."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.servers import RedisCluster, RedisServer

# ---------------------------------------------------------------------------------------------
# Real Redis: one shared server, and dedicated servers for tests that break theirs
# ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    """One redis-server shared by the whole session; use ``redis_url`` for a clean database."""
    with RedisServer() as server:
        yield server


@pytest.fixture
def redis_url(redis_server: RedisServer) -> str:
    """URL of the shared server, FLUSHALL-ed before the test."""
    with redis_server.client() as client:
        client.flushall()
    return redis_server.url


@pytest.fixture
def own_redis() -> Iterator[RedisServer]:
    """A fresh redis-server of the test's own, free to stop, pause or restart; stopped after."""
    with RedisServer() as server:
        yield server


# ---------------------------------------------------------------------------------------------
# Real Redis Cluster: three primaries, no replicas
# ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def redis_cluster() -> Iterator[RedisCluster]:
    """The three-primary cluster shared by the whole session; use ``cluster_url`` in tests."""
    with RedisCluster() as cluster:
        yield cluster


@pytest.fixture
def cluster_url(redis_cluster: RedisCluster) -> str:
    """``redis+cluster://`` URL of the first node, every node FLUSHALL-ed before the test."""
    redis_cluster.flush()
    return f"redis+cluster://127.0.0.1:{redis_cluster.ports[0]}/0"
