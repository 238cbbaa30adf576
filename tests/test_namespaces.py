"""Two namespaces on one redis-server: no deletion path of one reaches the other.

Namespaces are single segments (no ':' or '#'), so 'shop' and its neighbours 'shop.v2',
'shop-v2', 'shopx' never share a key prefix that a glob of one could match. Each test plants
the neighbours' entries, tags and published stats, runs one deletion path of 'shop' as the user
would (the library, the console script, a replay after an outage), and reads the neighbours
back with a plain client.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import pytest
import redis

from cachectl import MISS, AsyncCache, BreakerState, Cache, ConfigError
from cachectl.testing import PATIENT
from tests.plugins.cli import CliResult
from tests.servers import RedisServer

pytestmark = pytest.mark.usefixtures("watchdog")

#: Open at the first failure, probe quickly: the replay tests stay short.
REPLAY = {
    "socket_timeout": 0.25,
    "connect_timeout": 0.25,
    "recovery_interval": 0.2,
    "failure_threshold": 1,
}
MINE = "shop"
NEIGHBOURS = ("shop.v2", "shop-v2", "shopx", "sho")
#: Application keys written in every namespace: 'v2' and 'v2:*' are what `--prefix v2` names.
ENTRIES = {"v2": 1, "v2:a": 2, "v2:b:c": 3, "other": 4}


def _plant(url: str, namespace: str) -> None:
    """Entries with a tag, and published stats, in namespace."""
    with Cache(url, namespace=namespace, stats_interval=3600, **PATIENT) as cache:
        cache.set_many(ENTRIES, tags=("t",))
        cache.get("v2:a")
        cache.get("missing")
        cache.publish_stats()


def _snapshot(client: redis.Redis, namespace: str) -> dict[bytes, Any]:
    """Every key of namespace (data, tags, stats) with its content."""
    found: dict[bytes, Any] = {}
    for key in client.scan_iter(match=f"{namespace}[:#]*", count=1000):
        kind = client.type(key)
        if kind == b"string":
            found[key] = client.get(key)
        elif kind == b"zset":
            found[key] = client.zrange(key, 0, -1)
        elif kind == b"hash":
            found[key] = client.hgetall(key)
        else:
            found[key] = kind
    return found


def _neighbours(client: redis.Redis) -> dict[str, dict[bytes, Any]]:
    return {ns: _snapshot(client, ns) for ns in NEIGHBOURS}


@pytest.fixture
def planted(redis_server: RedisServer, redis_url: str) -> Callable[[], dict[str, Any]]:
    """Plants every namespace; returns a function that reads the neighbours back."""
    for namespace in (MINE, *NEIGHBOURS):
        _plant(redis_url, namespace)
    client = redis_server.client()
    before = _neighbours(client)
    for namespace, keys in before.items():
        # Four entries, their four tags records, one tag, one stats hash each: the test has
        # something to lose.
        assert len(keys) == 10, (namespace, sorted(keys))

    def check() -> dict[str, Any]:
        after = _neighbours(client)
        assert after == before
        return _snapshot(client, MINE)

    return check


LIBRARY_PATHS: dict[str, Callable[[Cache], int]] = {
    "invalidate_pattern('*')": lambda c: c.invalidate_pattern("*"),
    "invalidate_pattern('v2*')": lambda c: c.invalidate_pattern("v2*"),
    "invalidate_prefix('v2')": lambda c: c.invalidate_prefix("v2"),
    "invalidate_tag('t')": lambda c: c.invalidate_tag("t"),
    "delete": lambda c: c.delete("v2", "v2:a"),
}


@pytest.mark.parametrize("path", list(LIBRARY_PATHS))
def test_library_deletions_stay_in_their_namespace(
    planted: Callable[[], dict[bytes, Any]], redis_url: str, path: str
) -> None:
    with Cache(redis_url, namespace=MINE, **PATIENT) as cache:
        assert LIBRARY_PATHS[path](cache) >= 2
    mine = planted()
    assert b"shop:v2:a" not in mine
    assert b"shop#stats" in mine


async def test_async_pattern_star_stays_in_its_namespace(
    planted: Callable[[], dict[bytes, Any]], redis_url: str
) -> None:
    async with AsyncCache(redis_url, namespace=MINE, **PATIENT) as cache:
        assert await cache.invalidate_pattern("*") == len(ENTRIES)
        assert await cache.invalidate_prefix("v2") == 0
    assert set(planted()) == {b"shop#tag:{t}", b"shop#stats"}


# The namespace's bookkeeping stays: its stats hash, and its audit log, which now holds the
# flush just made (ops.flush.flush records every flush, from the console as from the page).
BOOKKEEPING = {b"shop#stats", b"shop#audit"}


@pytest.mark.parametrize(
    ("args", "left"),
    [
        (["--all"], BOOKKEEPING),
        (["--prefix", "v2"], {b"shop:other", b"shop#tag::other", b"shop#tag:{t}", *BOOKKEEPING}),
        (["--pattern", "*"], {b"shop#tag:{t}", *BOOKKEEPING}),
        (["--tag", "t"], BOOKKEEPING),
    ],
    ids=["all", "prefix", "pattern", "tag"],
)
def test_console_flush_stays_in_its_namespace(
    planted: Callable[[], dict[bytes, Any]],
    redis_url: str,
    run_script: Callable[..., CliResult],
    args: list[str],
    left: set[bytes],
) -> None:
    done = run_script("--url", redis_url, "--namespace", MINE, "flush", *args, "--yes", "--json")
    assert done.exit_code == 0, done.stderr
    assert done.json()["removed"] >= 3
    assert set(planted()) == left
    with redis.Redis.from_url(redis_url) as client:
        (entry,) = [json.loads(raw) for raw in client.lrange(b"shop#audit", 0, -1)]
    assert (entry["source"], entry["count"]) == ("cli", done.json()["removed"])
    assert entry["selection"] == done.json()["selection"]


def _wait_closed(cache: Cache) -> None:
    deadline = time.monotonic() + 10
    while cache.breaker_state is not BreakerState.CLOSED:
        assert time.monotonic() < deadline, "the breaker did not close"
        cache.get("poll")
        time.sleep(0.05)


@pytest.mark.parametrize("pending_max", [10_000, 1], ids=["owed-globs", "owed-everything"])
def test_replay_after_an_outage_stays_in_its_namespace(
    own_redis: RedisServer, pending_max: int
) -> None:
    for namespace in (MINE, *NEIGHBOURS):
        _plant(own_redis.url, namespace)
    with own_redis.client() as client:
        before = _neighbours(client)
        with Cache(own_redis.url, namespace=MINE, pending_max=pending_max, **REPLAY) as cache:
            own_redis.pause()
            try:
                # Each change meets a hung server, is served by the fallback and owed to Redis.
                cache.invalidate_pattern("*")
                cache.invalidate_prefix("v2")
                cache.invalidate_tag("t")
                assert cache.breaker_state is BreakerState.OPEN
            finally:
                own_redis.resume()
            _wait_closed(cache)
            assert cache.get("v2:a", MISS) is MISS
        assert _neighbours(client) == before
        assert not [k for k in client.scan_iter(match="shop:*")]


# -- refusal ---------------------------------------------------------------------------------


@pytest.mark.parametrize("namespace", ["shop:v2", "shop#v2", "shop*", "shop v2", ""])
def test_overlapping_namespaces_are_refused_by_the_library(namespace: str) -> None:
    with pytest.raises(ConfigError, match="invalid namespace"):
        Cache("memory://", namespace=namespace)


def test_colon_namespace_is_a_usage_error_on_the_command_line(
    redis_url: str, run_script: Callable[..., CliResult]
) -> None:
    done = run_script("--url", redis_url, "--namespace", "shop:v2", "flush", "--all", "--yes")
    assert done.exit_code == 2
    assert "invalid namespace 'shop:v2'" in done.stderr
    assert "'shop.v2'" in done.stderr
    from_env = run_script("--url", redis_url, "stats", env={"CACHECTL_NAMESPACE": "shop:v2"})
    assert from_env.exit_code == 2
    assert "invalid namespace 'shop:v2'" in from_env.stderr
