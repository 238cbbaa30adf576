"""The published stats hash stays bounded and readable whatever is written to it."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest
import redis

from cachectl import AsyncCache, Cache
from cachectl.backends.memory import MemoryStore
from cachectl.stats import (
    MAX_PREFIX_BYTES,
    MAX_PREFIXES,
    OTHER,
    STATS_TTL,
    CacheStats,
    StatsRecorder,
)
from cachectl.testing import PATIENT
from tests.plugins.cli import CLI_NAMESPACE, CliResult

pytestmark = pytest.mark.usefixtures("watchdog")


#: What someone else (or an older writer) may leave in the hash, with whether it is usable.
HOSTILE: dict[bytes, bytes] = {
    b"hits:users": b"not a number",
    b"misses:users": b"1e9",
    b"sets:users": b"-4",
    b"errors:users": b" 7",
    b"fallback:users": b"99999999999999999999999",
    b"lat:users:99999999": b"5",
    b"lat:users:-1": b"5",
    b"lat:users:007": b"5",
    b"lat:users:": b"5",
    b"hits:a:b": b"1",
    b"\x1b[31mevil": b"1",
    b"kind-from-the-future:users": b"1",
    b"hits:\xff\xfe": b"1",
    b"hits:" + b"x" * 100_000: b"1",
    b"prefix:": b"whatever",
}


def plant(client: redis.Redis | redis.RedisCluster, key: bytes) -> None:
    client.hset(key, mapping={**HOSTILE, b"hits:ok": b"3", b"lat:ok:40": b"2"})


def test_a_hostile_hash_is_read_skipping_what_is_unusable(
    raw_redis: redis.Redis, redis_url: str
) -> None:
    plant(raw_redis, b"hostile#stats")
    with Cache(redis_url, namespace="hostile", **PATIENT) as cache:
        published = cache.published_stats()
        assert published["ok"].hits == 3
        assert published["ok"].latency == {40: 2}
        assert published["users"].hits == 0
        assert published.skipped == len(HOSTILE) - 1  # 'prefix:' is bookkeeping
        assert published.to_dict()["skipped_fields"] == published.skipped

        # Publishing into it works: an unusable counter is replaced by this process's figure.
        cache.get("users:1")
        cache.get("users:2")
        cache.publish_stats()
        assert cache.published_stats()["users"].misses == 2
        assert raw_redis.hget(b"hostile#stats", b"misses:users") == b"2"
        assert raw_redis.hget(b"hostile#stats", b"hits:ok") == b"3"


async def test_async_reads_a_hostile_hash(raw_redis: redis.Redis, redis_url: str) -> None:
    plant(raw_redis, b"ahostile#stats")
    async with AsyncCache(redis_url, namespace="ahostile", **PATIENT) as cache:
        await cache.get("ok:1")
        await cache.publish_stats()
        published = await cache.published_stats()
    assert (published["ok"].hits, published["ok"].misses) == (3, 1)
    assert published.skipped == len(HOSTILE) - 1


def test_stats_command_counts_skipped_fields(
    raw_redis: redis.Redis, redis_url: str, run_script: Callable[..., CliResult]
) -> None:
    plant(raw_redis, CLI_NAMESPACE.encode() + b"#stats")
    base = ("--url", redis_url, "--namespace", CLI_NAMESPACE, "stats")
    done = run_script(*base, "--json")
    assert done.exit_code == 0, done.stderr
    report = done.json()
    assert report["skipped_fields"] == len(HOSTILE) - 1
    assert {row["prefix"]: row["hits"] for row in report["prefixes"]} == {"ok": 3}
    table = run_script(*base)
    assert table.exit_code == 0, table.stderr
    assert f"{len(HOSTILE) - 1} unusable fields of the stats hash skipped" in table.stdout
    assert "\x1b" not in table.stdout


@pytest.mark.parametrize("backend_url", ["redis", "memory", "cluster"], indirect=True)
def test_the_hash_holds_a_bounded_number_of_prefixes_across_processes(
    backend_url: str, namespace: str
) -> None:
    store = MemoryStore()  # shared by the two memory:// caches, as Redis is by two processes
    store.set_many([(b"other", b"")], None)  # Cache takes `store or MemoryStore()`: not empty
    first = Cache(backend_url, namespace=namespace, store=store, **PATIENT)
    second = Cache(backend_url, namespace=namespace, store=store, **PATIENT)
    with first, second:
        half = MAX_PREFIXES // 2 + 100
        for i in range(half):
            first.get(f"a{i}:k")
            second.get(f"b{i}:k")
        first.publish_stats()
        second.publish_stats()
        second.get("b0:k")  # a prefix that holds a place keeps it
        second.publish_stats()
        published = first.published_stats()
    assert len(published.prefixes) == MAX_PREFIXES + 1
    assert published[OTHER].misses == 2 * half - MAX_PREFIXES
    assert published.total.misses == 2 * half + 1
    assert published["a0"].misses == 1
    assert published["b0"].misses == 2
    assert published.skipped == 0


@pytest.mark.parametrize("backend_url", ["redis", "cluster"], indirect=True)
def test_the_hash_expires_when_nobody_publishes(backend_url: str, namespace: str) -> None:
    with Cache(backend_url, namespace=namespace, **PATIENT) as cache:
        cache.get("e:1")
        cache.publish_stats()
        client = cache.backend.client  # type: ignore[attr-defined]
        ttl = client.ttl(cache.keys.stats_key)
        assert 0 < ttl <= STATS_TTL
        client.expire(cache.keys.stats_key, 5)
        cache.get("e:2")
        cache.publish_stats()  # each publish gives it its full life again
        assert client.ttl(cache.keys.stats_key) > 5


def test_the_embedded_hash_expires(monkeypatch: pytest.MonkeyPatch) -> None:
    import cachectl.backends.memory as memory

    now = [1000.0]
    monkeypatch.setattr(memory.time, "monotonic", lambda: now[0])
    store = MemoryStore()
    store.incr_counters(b"m#stats", {b"hits:x": 2}, ttl=60)
    now[0] += 59
    assert CacheStats.from_fields(store.read_counters(b"m#stats"))["x"].hits == 2
    store.incr_counters(b"m#stats", {b"hits:x": 1}, ttl=60)
    now[0] += 59
    assert CacheStats.from_fields(store.read_counters(b"m#stats"))["x"].hits == 3
    now[0] += 2
    assert store.read_counters(b"m#stats") == {}


def test_the_recorder_bounds_a_flood_of_first_segments() -> None:
    recorder = StatsRecorder()
    for i in range(20_000):
        recorder.counters(f"{i}-" + "x" * 50).misses += 1
    long = "y" * (MAX_PREFIX_BYTES + 1)
    recorder.counters(long).hits += 1
    assert len(recorder.prefixes) == MAX_PREFIXES + 1
    assert long not in recorder.prefixes
    snapshot = recorder.snapshot()
    assert snapshot[OTHER].misses == 20_000 - MAX_PREFIXES
    assert snapshot[OTHER].hits == 1


def test_a_long_key_without_segments_is_counted_as_other() -> None:
    with Cache("memory://", namespace="long") as cache:
        cache.get("k" * 10_000)
        cache.get("short:1")
        stats = cache.stats()
    assert set(stats.prefixes) == {OTHER, "short"}


def test_a_hash_past_the_bound_is_read_bounded() -> None:
    fields = {b"hits:p%d" % i: b"1" for i in range(MAX_PREFIXES + 500)}
    stats = CacheStats.from_fields(fields)
    assert len(stats.prefixes) == MAX_PREFIXES + 1
    assert stats[OTHER].hits == 500
    assert stats.total.hits == MAX_PREFIXES + 500


async def test_async_publishes_into_the_bounded_hash(redis_url: str) -> None:
    async with AsyncCache(redis_url, namespace="abound", **PATIENT) as cache:
        await asyncio.gather(*(cache.get(f"p{i}:k") for i in range(MAX_PREFIXES + 10)))
        await cache.publish_stats()
        published = await cache.published_stats()
    assert len(published.prefixes) == MAX_PREFIXES + 1
    assert published.total.misses == MAX_PREFIXES + 10


def test_a_stats_key_of_another_type_is_one_skipped_field(
    raw_redis: redis.Redis, redis_url: str, run_script: Callable[..., CliResult]
) -> None:
    raw_redis.set(CLI_NAMESPACE.encode() + b"#stats", b"not a hash")
    with Cache(redis_url, namespace=CLI_NAMESPACE, **PATIENT) as cache:
        cache.get("w:1")
        cache.publish_stats()  # refused by the server: kept for later, never raised
        assert cache.published_stats().skipped == 1
    done = run_script("--url", redis_url, "--namespace", CLI_NAMESPACE, "stats", "--json")
    assert done.exit_code == 0, done.stderr
    assert done.json()["skipped_fields"] == 1


@pytest.mark.parametrize("backend_url", ["redis", "memory"], indirect=True)
def test_a_long_prefix_from_another_writer_is_published_as_other(
    backend_url: str, namespace: str
) -> None:
    long = b"z" * (MAX_PREFIX_BYTES + 1)
    with Cache(backend_url, namespace=namespace, **PATIENT) as cache:
        # What a writer without the length bound would send.
        cache.backend.incr_counters(cache.keys.stats_key, {b"hits:" + long: 4, b"hits:ok": 1})
        published = cache.published_stats()
    assert published[OTHER].hits == 4
    assert published["ok"].hits == 1
    assert published.skipped == 0
