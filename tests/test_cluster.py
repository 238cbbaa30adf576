"""Redis Cluster: multi-key calls across slots, invalidation on every primary, tags."""

from __future__ import annotations

import pytest

from cachectl import MISS, AsyncCache, Cache
from cachectl.testing import PATIENT
from tests.servers import RedisCluster

pytestmark = pytest.mark.usefixtures("watchdog")

KEYS = [f"item:{i}" for i in range(600)]


def keys_per_node(cluster: RedisCluster, namespace: str) -> list[int]:
    """How many of the namespace's data keys each primary holds."""
    counts = []
    for node in cluster.nodes:
        with node.client() as client:
            counts.append(sum(1 for _ in client.scan_iter(match=f"{namespace}:*", count=1000)))
    return counts


@pytest.fixture(params=["url", "option"])
def cluster_cache(
    request: pytest.FixtureRequest, redis_cluster: RedisCluster, cluster_url: str
) -> Cache:
    """A Cache on the cluster, chosen by redis+cluster:// or by cluster=True."""
    if request.param == "url":
        cache = Cache(cluster_url, namespace="cl", **PATIENT)
    else:
        cache = Cache(redis_cluster.url, namespace="cl", cluster=True, **PATIENT)
    request.addfinalizer(cache.close)
    return cache


def _cachectl_connections(cluster: RedisCluster) -> int:
    total = 0
    for node in cluster.nodes:
        with node.client() as client:
            total += sum(1 for c in client.client_list() if c.get("name") == "cachectl")
    return total


def test_close_releases_every_node_connection(
    cluster_url: str, redis_cluster: RedisCluster
) -> None:
    cache = Cache(cluster_url, namespace="closing", **PATIENT)
    try:
        cache.set_many(dict.fromkeys(KEYS[:100], 1))
        assert _cachectl_connections(redis_cluster) >= 2
        cache.close()
        assert _cachectl_connections(redis_cluster) == 0
    finally:
        cache.close()


async def test_async_close_releases_every_node_connection(
    cluster_url: str, redis_cluster: RedisCluster
) -> None:
    async with AsyncCache(cluster_url, namespace="aclosing", **PATIENT) as cache:
        await cache.set_many(dict.fromkeys(KEYS[:100], 1))
        assert _cachectl_connections(redis_cluster) >= 2
    assert _cachectl_connections(redis_cluster) == 0


def test_set_many_and_get_many_span_every_primary(
    cluster_cache: Cache, redis_cluster: RedisCluster
) -> None:
    cluster_cache.set_many({k: k.upper() for k in KEYS}, ttl=60)
    per_node = keys_per_node(redis_cluster, "cl")
    assert sum(per_node) == len(KEYS)
    assert all(count > 0 for count in per_node), per_node
    got = cluster_cache.get_many([*KEYS, "item:absent"])
    assert got == {k: k.upper() for k in KEYS}


def test_delete_across_slots(cluster_cache: Cache, redis_cluster: RedisCluster) -> None:
    cluster_cache.set_many(dict.fromkeys(KEYS, 1))
    assert cluster_cache.delete(*KEYS[:300]) == 300
    assert sum(keys_per_node(redis_cluster, "cl")) == 300
    assert cluster_cache.get(KEYS[0], MISS) is MISS
    assert cluster_cache.get(KEYS[-1]) == 1


def test_tags_across_slots(cluster_cache: Cache, redis_cluster: RedisCluster) -> None:
    cluster_cache.set_many(dict.fromkeys(KEYS, 1), ttl=60, tags=("bulk",))
    cluster_cache.set("loner", 2, tags=("bulk", "other"))
    cluster_cache.set("untagged", 3)
    assert cluster_cache.invalidate_tag("bulk") == len(KEYS) + 1
    assert sum(keys_per_node(redis_cluster, "cl")) == 1
    assert cluster_cache.get("untagged") == 3


def test_invalidate_prefix_covers_every_primary(
    cluster_cache: Cache, redis_cluster: RedisCluster
) -> None:
    cluster_cache.set_many(dict.fromkeys(KEYS, 1))
    cluster_cache.set_many({"items:1": 1, "item": 2})
    assert cluster_cache.invalidate_prefix("item") == len(KEYS) + 1
    assert sum(keys_per_node(redis_cluster, "cl")) == 1
    assert cluster_cache.get("items:1") == 1


def test_invalidate_pattern_covers_every_primary(
    cluster_cache: Cache, redis_cluster: RedisCluster
) -> None:
    cluster_cache.set_many(dict.fromkeys(KEYS, 1))
    assert cluster_cache.invalidate_pattern("item:*") == len(KEYS)
    assert sum(keys_per_node(redis_cluster, "cl")) == 0


async def test_async_multi_key_and_tags_across_slots(
    cluster_url: str, redis_cluster: RedisCluster
) -> None:
    async with AsyncCache(cluster_url, namespace="acl", **PATIENT) as cache:
        await cache.set_many({k: k for k in KEYS}, tags=("t",))
        assert all(count > 0 for count in keys_per_node(redis_cluster, "acl"))
        assert await cache.get_many(KEYS) == {k: k for k in KEYS}
        assert await cache.delete(*KEYS[:10]) == 10
        assert await cache.invalidate_tag("t") == len(KEYS) - 10
        assert sum(keys_per_node(redis_cluster, "acl")) == 0


async def test_async_invalidate_prefix_covers_every_primary(
    cluster_url: str, redis_cluster: RedisCluster
) -> None:
    async with AsyncCache(cluster_url, namespace="acl", **PATIENT) as cache:
        await cache.set_many(dict.fromkeys(KEYS, 1))
        assert await cache.invalidate_prefix("item") == len(KEYS)
        assert sum(keys_per_node(redis_cluster, "acl")) == 0


def test_published_stats_on_a_cluster(cluster_url: str) -> None:
    with Cache(cluster_url, namespace="cst", **PATIENT) as cache:
        cache.set("s:1", 1)
        cache.get("s:1")
    with Cache(cluster_url, namespace="cst", **PATIENT) as reader:
        published = reader.published_stats()["s"]
    assert (published.hits, published.sets) == (1, 1)
