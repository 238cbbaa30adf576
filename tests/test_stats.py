"""Per-prefix figures in process, and as published to '<namespace>#stats' by many processes."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cachectl import AsyncCache, Cache, CacheStats, PrefixStats
from cachectl.stats import MAX_PREFIXES, OTHER, bucket_bounds, bucket_of, percentile_ms
from cachectl.testing import PATIENT
from tests.servers import RedisServer

pytestmark = pytest.mark.usefixtures("watchdog")


def test_counters_per_prefix(cache: Cache) -> None:
    cache.set("users:1", 1)
    cache.set("users:2", 2)
    cache.set("orders:1", 3)
    cache.get("users:1")
    cache.get("users:1")
    cache.get("users:404")
    cache.get("orders:404")
    cache.get_many(["orders:1", "orders:2"])
    stats = cache.stats()
    assert (stats["users"].hits, stats["users"].misses, stats["users"].sets) == (2, 1, 2)
    assert (stats["orders"].hits, stats["orders"].misses, stats["orders"].sets) == (1, 2, 1)
    assert stats["users"].errors == stats["users"].fallback == 0
    assert stats["users"].hit_ratio == pytest.approx(2 / 3)
    assert stats.total.hits == 3
    assert stats.total.misses == 3
    assert stats["never"] == PrefixStats("never")
    assert stats["never"].hit_ratio is None


def test_latency_percentiles(cache: Cache) -> None:
    cache.set("lat:k", 1)
    for _ in range(50):
        cache.get("lat:k")
    figures = cache.stats()["lat"]
    assert figures.calls == 50
    p50, p90, p99 = (figures.percentile_ms(q) for q in (50, 90, 99))
    assert p50 is not None and p90 is not None and p99 is not None
    assert 0 <= p50 <= p90 <= p99
    report = figures.to_dict()
    assert {"hits", "misses", "sets", "errors", "fallback", "hit_ratio", "p50_ms", "p99_ms"} <= set(
        report
    )
    json.dumps(cache.stats().to_dict())


async def test_async_counters(acache: AsyncCache) -> None:
    await acache.set("a:1", 1)
    await acache.get("a:1")
    await acache.get("a:2")
    figures = acache.stats()["a"]
    assert (figures.hits, figures.misses, figures.sets) == (1, 1, 1)
    assert figures.calls == 2


def test_prefix_count_is_bounded() -> None:
    with Cache("memory://", namespace="many") as cache:
        for i in range(MAX_PREFIXES + 50):
            cache.get(f"p{i}:k")
        stats = cache.stats()
    assert len(stats.prefixes) == MAX_PREFIXES + 1
    assert stats[OTHER].misses == 50


def test_stats_option_off_counts_no_reads(backend_url: str, namespace: str) -> None:
    with Cache(backend_url, namespace=namespace, stats=False, **PATIENT) as cache:
        cache.set("k:1", 1)
        cache.get("k:1")
        cache.get("k:2")
        assert cache.stats()["k"].hits == 0
        assert cache.stats()["k"].misses == 0
        cache.publish_stats()
        assert cache.published_stats().prefixes == {}


# -- published figures: HINCRBY deltas, merged across processes ------------------------------

CHILD = """
from cachectl import Cache

with Cache({url!r}, namespace={namespace!r}, socket_timeout=2.0, connect_timeout=2.0) as c:
    for _ in range({n}):
        assert c.get("hot:k") == "v"
    assert c.get("hot:absent") is None
"""


def test_published_stats_are_summed_across_processes(
    redis_server: RedisServer, redis_url: str
) -> None:
    n = 25
    with Cache(redis_url, namespace="merged", stats=False, **PATIENT) as writer:
        writer.set("hot:k", "v")
    code = textwrap.dedent(CHILD).format(url=redis_url, namespace="merged", n=n)
    children = [
        subprocess.Popen([sys.executable, "-c", code], stderr=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    for child in children:
        _, err = child.communicate(timeout=60)
        assert child.returncode == 0, err
    with Cache(redis_url, namespace="merged", **PATIENT) as reader:
        merged = reader.published_stats()
    hot = merged["hot"]
    assert (hot.hits, hot.misses, hot.errors, hot.fallback) == (2 * n, 2, 0, 0)
    assert hot.calls == 2 * (n + 1)
    assert hot.percentile_ms(50) is not None
    with redis_server.client() as raw:
        fields = raw.hgetall(b"merged#stats")
    assert int(fields[b"hits:hot"]) == 2 * n
    assert int(fields[b"misses:hot"]) == 2
    assert any(name.startswith(b"lat:hot:") for name in fields)


def test_publishing_twice_adds_only_the_delta(redis_url: str) -> None:
    with Cache(redis_url, namespace="delta", **PATIENT) as cache:
        cache.set("d:k", 1)
        cache.get("d:k")
        cache.publish_stats()
        cache.publish_stats()
        cache.get("d:k")
        cache.get("d:x")
    with Cache(redis_url, namespace="delta", **PATIENT) as reader:
        published = reader.published_stats()["d"]
    assert (published.hits, published.misses, published.sets) == (2, 1, 1)


async def test_async_published_stats(redis_url: str) -> None:
    async with AsyncCache(redis_url, namespace="apub", **PATIENT) as cache:
        await cache.set("x:1", 1)
        for _ in range(3):
            await cache.get("x:1")
    async with AsyncCache(redis_url, namespace="apub", **PATIENT) as reader:
        published = (await reader.published_stats())["x"]
    assert (published.hits, published.sets) == (3, 1)


def test_published_stats_of_the_embedded_store() -> None:
    with Cache("memory://", namespace="mem") as cache:
        cache.get("m:1")
        cache.publish_stats()
        assert cache.published_stats()["m"].misses == 1


# -- the figures themselves --------------------------------------------------------------------


@settings(max_examples=300, deadline=None)
@given(micros=st.integers(min_value=0, max_value=10**10))
def test_every_latency_falls_in_its_bucket(micros: int) -> None:
    low, high = bucket_bounds(bucket_of(micros))
    assert low <= micros <= high
    assert high - low <= max(1, low // 16)


@settings(max_examples=200, deadline=None)
@given(a=st.integers(min_value=0, max_value=10**9), b=st.integers(min_value=0, max_value=10**9))
def test_buckets_are_ordered_like_latencies(a: int, b: int) -> None:
    if a <= b:
        assert bucket_of(a) <= bucket_of(b)


def test_percentiles_of_a_histogram() -> None:
    histogram = {bucket_of(100): 90, bucket_of(10_000): 10}
    assert percentile_ms({}, 50) is None
    p50 = percentile_ms(histogram, 50)
    p99 = percentile_ms(histogram, 99)
    assert p50 is not None and p99 is not None
    assert p50 == pytest.approx(0.1, rel=0.07)
    assert p99 == pytest.approx(10.0, rel=0.07)


def test_from_fields_parses_the_published_layout() -> None:
    stats = CacheStats.from_fields(
        {
            b"hits:users": 5,
            b"misses:users": 1,
            b"sets:users": 2,
            b"errors:orders": 3,
            b"fallback:orders": 4,
            b"lat:users:40": 6,
            b"newer-kind:users": 9,
            b"lat:users:not-a-bucket": 1,
        }
    )
    users, orders = stats["users"], stats["orders"]
    assert (users.hits, users.misses, users.sets, users.calls) == (5, 1, 2, 6)
    assert (orders.errors, orders.fallback) == (3, 4)
    assert stats.total.hits == 5
    assert stats.total.latency == {40: 6}


def test_membership_and_iteration_name_the_prefixes() -> None:
    from cachectl import Cache

    with Cache(namespace="membership") as c:
        c.set("p:1", 1)
        stats = c.stats()
        assert "p" in stats
        assert "q" not in stats  # once a loop without end, through __getitem__(0), (1), ...
        assert list(stats) == ["p"]
