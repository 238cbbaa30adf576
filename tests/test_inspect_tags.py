"""A key's tags in `cachectl inspect` and the page's key view, on a real redis-server.

Tags are found by scanning for the namespace's tag sets; on a big keyspace the search stops
after ops.inspect.TAG_SCAN keys per primary, and says so (never a silent "no tags").
"""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest
import redis
from fastapi import FastAPI

from cachectl import Cache
from cachectl.contrib.fastapi import admin_router
from cachectl.ops import inspect as ops_inspect
from cachectl.ops.connect import for_cache
from cachectl.testing import PATIENT
from tests.plugins.cli import CliResult

Run = Callable[..., CliResult]
ADMIN = "admin-token-tags"


def _fill(client: redis.Redis, namespace: str, n: int) -> None:
    """n untagged entries, written around the library (a big keyspace, quickly)."""
    pipe = client.pipeline(transaction=False)
    for start in range(0, n, 10_000):
        pipe.mset({f"{namespace}:filler:{i}": b"v" for i in range(start, min(n, start + 10_000))})
    pipe.execute()


def test_a_small_keyspace_is_searched_whole(
    redis_url: str, namespace: str, run_script: Run
) -> None:
    with Cache(redis_url, namespace=namespace, **PATIENT) as cache:
        cache.set("user:1", {"a": 1}, tags=("team", "users"), ttl=600)
        cache.set("user:2", {"a": 2}, tags=("team",), ttl=600)
        cache.set("expired-tag", 1, tags=("gone",), ttl=0.05)
    shown = run_script("--url", redis_url, "--namespace", namespace, "inspect", "user:1", "--json")
    assert shown.exit_code == 0, shown.stderr
    assert shown.json()["tags"] == ["team", "users"]
    assert shown.json()["tags_complete"] is True and "tags_searched" not in shown.json()
    text = run_script("--url", redis_url, "--namespace", namespace, "inspect", "user:1")
    assert "team, users" in text.stdout and "searched among" not in text.stdout


def test_a_big_keyspace_stops_the_tag_search_and_says_so(
    redis_url: str, namespace: str, run_script: Run, raw_redis: redis.Redis
) -> None:
    # More keys than TAG_SCAN: the search stops, and both faces say how far it looked.
    _fill(raw_redis, namespace, ops_inspect.TAG_SCAN + 60_000)
    with Cache(redis_url, namespace=namespace, **PATIENT) as cache:
        cache.set("user:1", {"a": 1}, tags=("team",), ttl=600)
    base = ["--url", redis_url, "--namespace", namespace, "inspect", "user:1"]
    shown = run_script(*base, "--json")
    assert shown.exit_code == 0, shown.stderr
    doc = shown.json()
    assert doc["tags_complete"] is False
    assert doc["tags_searched"] == ops_inspect.TAG_SCAN
    assert doc["tags"] in ([], ["team"])  # found only if its tag set was among those keys
    text = run_script(*base)
    assert f"searched among the first ~{ops_inspect.TAG_SCAN:,} keys only" in text.stdout


async def test_the_page_key_view_carries_the_note(
    redis_url: str, namespace: str, raw_redis: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ops_inspect, "TAG_SCAN", ops_inspect.STEP_COUNT)
    _fill(raw_redis, namespace, 20_000)
    with Cache(redis_url, namespace=namespace, **PATIENT) as cache:
        cache.set("user:1", {"a": 1}, tags=("team",), ttl=600)
        app = FastAPI()
        app.include_router(admin_router(cache, token=ADMIN), prefix="/_cache")
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            response = await client.get(
                "/_cache/api/key",
                params={"key": "user:1"},
                headers={"Authorization": f"Bearer {ADMIN}"},
            )
    assert response.status_code == 200, response.text
    assert response.json()["tags_complete"] is False
    assert response.json()["tags_searched"] == ops_inspect.STEP_COUNT


def test_an_unbounded_search_finds_every_tag(
    redis_url: str, namespace: str, raw_redis: redis.Redis
) -> None:
    _fill(raw_redis, namespace, 20_000)
    with Cache(redis_url, namespace=namespace, **PATIENT) as cache:
        for t in range(30):
            cache.set(f"k:{t}", t, tags=(f"t{t}", "all"), ttl=600)
        conn = for_cache(cache)
        try:
            whole = ops_inspect.tags_of(conn, conn.keys.full("k:7"), None)
            bounded = ops_inspect.tags_of(conn, conn.keys.full("k:7"), ops_inspect.STEP_COUNT)
        finally:
            conn.close()
    assert whole == ops_inspect.TagSearch(("all", "t7"), None)
    assert bounded.searched == ops_inspect.STEP_COUNT
    assert set(bounded.tags) <= {"all", "t7"}


def test_a_cluster_is_searched_on_every_primary(cluster_url: str, namespace: str) -> None:
    # Tag sets live in their tag's slot, so on every primary; each one is scanned, each with
    # its own budget.
    with Cache(cluster_url, namespace=namespace, **PATIENT) as cache:
        for t in range(12):
            cache.set(f"k:{t}", t, tags=(f"t{t}", "all"), ttl=600)
        conn = for_cache(cache)
        try:
            found = ops_inspect.tags_of(conn, conn.keys.full("k:5"))
            bounded = ops_inspect.tags_of(conn, conn.keys.full("k:5"), 1)
        finally:
            conn.close()
    assert found == ops_inspect.TagSearch(("all", "t5"), None)
    assert bounded == found  # a small keyspace ends within one SCAN step, whatever the budget


async def test_a_tag_set_named_with_bytes_that_are_not_utf8_is_shown_as_escapes(
    redis_url: str, namespace: str, raw_redis: redis.Redis, run_script: Run
) -> None:
    # Another program's tag set: the key view answers JSON (it was a 500: a lone surrogate
    # cannot be encoded), and both faces show the same escaped name.
    raw_redis.set(f"{namespace}:k".encode(), b"v")
    raw_redis.zadd(f"{namespace}#tag:{{".encode() + b"\xff\xfe}", {f"{namespace}:k": 9e12})
    shown = run_script("--url", redis_url, "--namespace", namespace, "inspect", "k", "--json")
    assert shown.exit_code == 0, shown.stderr
    assert shown.json()["tags"] == ["\\xff\\xfe"]
    with Cache(redis_url, namespace=namespace, **PATIENT) as cache:
        app = FastAPI()
        app.include_router(admin_router(cache, token=ADMIN), prefix="/_cache")
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            response = await client.get(
                "/_cache/api/key", params={"key": "k"}, headers={"Authorization": f"Bearer {ADMIN}"}
            )
    assert response.status_code == 200, response.text
    assert response.json()["tags"] == ["\\xff\\xfe"]
