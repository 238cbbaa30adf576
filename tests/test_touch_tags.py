"""touch moves an entry's tag memberships with its TTL, on a real redis-server: without that, a
tag set expired (or reaped the key) before the touched entry, and invalidate_tag then missed it,
a stale read. Also where scripts are refused, and against a forged tags record."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import msgpack
import pytest
import redis

from cachectl import MISS, AsyncCache, Cache
from cachectl.keys import namespace_of, tags_record
from cachectl.testing import PATIENT


def test_a_touched_entry_is_still_invalidated_by_its_tag_after_its_first_ttl(
    raw_redis: redis.Redis, redis_url: str, namespace: str
) -> None:
    with Cache(redis_url, namespace=namespace, **PATIENT) as cache:
        cache.set("product:1", {"price": 10}, ttl=1, tags=("products",))
        assert cache.touch("product:1", 60) is True
        tag_key = f"{namespace}#tag:{{products}}".encode()
        # The tag set now lives as long as the entry (it expired after 1 s before).
        assert raw_redis.pttl(tag_key) >= raw_redis.pttl(f"{namespace}:product:1".encode()) - 50
        time.sleep(1.2)
        assert cache.get("product:1") == {"price": 10}
        assert cache.invalidate_tag("products") == 1
        assert cache.get("product:1", MISS) is MISS


def test_an_async_touch_to_no_expiry_keeps_the_tag_set(
    raw_redis: redis.Redis, redis_url: str, namespace: str
) -> None:
    async def run() -> tuple[int, Any]:
        async with AsyncCache(redis_url, namespace=namespace, **PATIENT) as cache:
            await cache.set("product:1", 1, ttl=1, tags=("products",))
            assert await cache.touch("product:1", None) is True
            await asyncio.sleep(1.2)
            # Another tagged write reaps members whose expiry has passed: not this one.
            await cache.set("product:2", 2, ttl=60, tags=("products",))
            removed = await cache.invalidate_tag("products")
            return removed, await cache.get("product:1", MISS)

    assert asyncio.run(run()) == (2, MISS)
    assert raw_redis.pttl(f"{namespace}#tag:{{products}}".encode()) == -2


def test_untagged_entries_are_touched_as_before_and_clear_removes_the_records(
    raw_redis: redis.Redis, redis_url: str, namespace: str
) -> None:
    with Cache(redis_url, namespace=namespace, **PATIENT) as cache:
        cache.set("plain", 1, ttl=1)
        assert cache.touch("plain", 60) is True
        assert 59_000 < raw_redis.pttl(f"{namespace}:plain".encode()) <= 60_000
        cache.set("tagged", 1, ttl=60, tags=("a", "b"))
        record = tags_record(f"{namespace}:tagged".encode())
        assert namespace_of(record) == namespace
        assert msgpack.unpackb(raw_redis.get(record)) == [
            f"{namespace}#tag:{{a}}".encode(),
            f"{namespace}#tag:{{b}}".encode(),
        ]
        cache.clear()
        assert list(raw_redis.scan_iter(f"{namespace}*".encode())) == []


def test_a_forged_tags_record_makes_touch_write_no_other_key(
    raw_redis: redis.Redis, redis_url: str, namespace: str
) -> None:
    with Cache(redis_url, namespace=namespace, **PATIENT) as cache:
        cache.set("k", 1, ttl=60)
        forged = [b"victim", b"other#tag:{t}", f"{namespace}#tag:{{t}}".encode(), 7, [b"x"]]
        raw_redis.set(tags_record(f"{namespace}:k".encode()), msgpack.packb(forged))
        assert cache.touch("k", 120) is True
        assert not raw_redis.exists(b"victim", b"other#tag:{t}")
        assert cache.invalidate_tag("t") == 1  # the one tag of its own namespace was moved
        raw_redis.set(tags_record(f"{namespace}:k2".encode()), b"\xc1 not msgpack")
        cache.set("k2", 1, ttl=60)
        assert cache.touch("k2", 120) is True


# -- where scripts are refused (an ACL, a managed service) ---------------------------------------


@pytest.mark.parametrize("longer", [60.0, None], ids=["ttl", "no-expiry"])
@pytest.mark.parametrize("face", ["sync", "async"])
def test_touch_moves_tags_where_scripts_are_refused(
    redis_url: str, no_script_url: str, namespace: str, face: str, longer: float | None
) -> None:
    with Cache(redis_url, namespace=namespace, **PATIENT) as writer:
        writer.set("product:1", 1, ttl=1, tags=("products",))
        if face == "sync":
            with Cache(no_script_url, namespace=namespace, **PATIENT) as toucher:
                with pytest.raises(redis.exceptions.NoPermissionError):
                    toucher.backend.client.eval("return 1", 0)  # type: ignore[attr-defined]
                assert toucher.touch("product:1", longer) is True
        else:

            async def touch() -> bool:
                async with AsyncCache(no_script_url, namespace=namespace, **PATIENT) as toucher:
                    return await toucher.touch("product:1", longer)

            assert asyncio.run(touch()) is True
        time.sleep(1.2)
        writer.set("product:2", 2, ttl=60, tags=("products",))  # reaps what has expired
        assert writer.invalidate_tag("products") == 2
        assert writer.get("product:1", MISS) is MISS


def test_a_ttl_set_by_an_operator_moves_the_tags_too(redis_url: str, namespace: str) -> None:
    # The admin API's "set TTL" (ops.edit.set_ttl) goes through the backend's touch.
    from cachectl.ops.connect import for_cache
    from cachectl.ops.edit import set_ttl

    with Cache(redis_url, namespace=namespace, **PATIENT) as cache:
        cache.set("product:1", 1, ttl=1, tags=("products",))
        conn = for_cache(cache)
        try:
            assert set_ttl(conn, "product:1", 60) is not None
        finally:
            conn.close()
        time.sleep(1.2)
        assert cache.invalidate_tag("products") == 1
        assert cache.get("product:1", MISS) is MISS


def _records(client: Any, namespace: str) -> list[bytes]:
    return sorted(set(client.scan_iter(match=f"{namespace}#tag::*".encode(), count=1000)))


@pytest.mark.parametrize("face", ["sync", "async"])
def test_deleting_an_entry_in_any_way_removes_its_tags_record(
    raw_redis: redis.Redis, redis_url: str, namespace: str, face: str
) -> None:
    entries = {"a:1": 1, "a:2": 2, "b:1": 3, "c:1": 4, "keep": 5}
    if face == "sync":
        with Cache(redis_url, namespace=namespace, **PATIENT) as cache:
            cache.set_many(entries, tags=("t",))
            cache.set("d:1", 6, tags=("u",))
            assert len(_records(raw_redis, namespace)) == 6
            assert cache.delete("a:1") == 1
            assert cache.invalidate_pattern("a:*") == 1
            assert cache.invalidate_prefix("b") == 1
            assert cache.delete_many(["c:1", "c:none"]) == 1
            assert cache.invalidate_tag("u") == 1
    else:

        async def run() -> None:
            async with AsyncCache(redis_url, namespace=namespace, **PATIENT) as cache:
                await cache.set_many(entries, tags=("t",))
                await cache.set("d:1", 6, tags=("u",))
                assert await cache.delete("a:1") == 1
                assert await cache.invalidate_pattern("a:*") == 1
                assert await cache.invalidate_prefix("b") == 1
                assert await cache.delete_many(["c:1", "c:none"]) == 1
                assert await cache.invalidate_tag("u") == 1

        asyncio.run(run())
    assert _records(raw_redis, namespace) == [tags_record(f"{namespace}:keep".encode())]


@pytest.mark.cluster
def test_a_cluster_touch_and_delete_keep_the_records_in_step(
    redis_cluster: Any, cluster_url: str, namespace: str
) -> None:
    client = redis_cluster.client()
    try:
        with Cache(cluster_url, namespace=namespace, **PATIENT) as cache:
            cache.set_many({f"k:{i}": i for i in range(20)}, ttl=1, tags=("t",))
            assert all(cache.touch(f"k:{i}", 60) for i in range(20))
            time.sleep(1.2)
            assert cache.delete("k:0", "k:1") == 2
            assert len(_records(client, namespace)) == 18
            assert cache.invalidate_tag("t") == 18
            assert cache.get_many([f"k:{i}" for i in range(20)]) == {}
            assert _records(client, namespace) == []
    finally:
        client.close()
