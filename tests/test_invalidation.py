"""invalidate_prefix, invalidate_pattern and tags, on the embedded store, Redis and a cluster."""

from __future__ import annotations

import itertools
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import redis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cachectl import MISS, AsyncCache, Cache, ConfigError
from cachectl.backends.memory import MemoryStore
from cachectl.backends.redis import RedisBackend
from cachectl.testing import PATIENT
from tests.servers import RedisCluster, RedisServer

pytestmark = pytest.mark.usefixtures("watchdog")


#: Prefix and pattern invalidation: the embedded store, Redis, and a cluster (every primary).
MATCHING_BACKENDS = pytest.mark.parametrize(
    "backend_url",
    ["memory", "redis", "cluster"],
    indirect=True,
)
#: Tags and exact keys: the embedded store, Redis and a cluster.
ALL_BACKENDS = pytest.mark.parametrize("backend_url", ["memory", "redis", "cluster"], indirect=True)


def _left(cache: Cache, keys: list[str] | list[bytes]) -> set[str | bytes]:
    return set(cache.get_many(list(keys)))


@contextmanager
def two_namespaces(backend_url: str, first: str, second: str) -> Iterator[tuple[Cache, Cache]]:
    """Two caches on the same storage (one shared MemoryStore for memory://)."""
    store = MemoryStore() if backend_url == "memory://" else None
    with (
        Cache(backend_url, namespace=first, store=store, **PATIENT) as a,
        Cache(backend_url, namespace=second, store=store, **PATIENT) as b,
    ):
        yield a, b


# -- invalidate_prefix ----------------------------------------------------------------------------

DASHBOARD_KEYS = [
    "dashboard",
    "dashboard:eu",
    "dashboard:eu:1",
    "dashboard:eu2",
    "dashboard:us:1",
    "dashboards:x",
    "dashboards",
    "dashboardx",
    "dash",
    "other:dashboard",
]


@MATCHING_BACKENDS
def test_prefix_removes_itself_and_keys_below_never_siblings(cache: Cache) -> None:
    cache.set_many(dict.fromkeys(DASHBOARD_KEYS, 1))
    assert cache.invalidate_prefix("dashboard") == 5
    assert _left(cache, DASHBOARD_KEYS) == {
        "dashboards:x",
        "dashboards",
        "dashboardx",
        "dash",
        "other:dashboard",
    }


@MATCHING_BACKENDS
def test_prefix_may_span_segments(cache: Cache) -> None:
    cache.set_many(dict.fromkeys(DASHBOARD_KEYS, 1))
    assert cache.invalidate_prefix("dashboard:eu") == 2
    assert _left(cache, DASHBOARD_KEYS) == set(DASHBOARD_KEYS) - {"dashboard:eu", "dashboard:eu:1"}


GLOB_KEYS = [
    "a*",
    "a*:1",
    "ab",
    "ab:1",
    "a?",
    "a?:1",
    "ax:1",
    "a[b]",
    "a[b]:1",
    "ab]:1",
    "a\\",
    "a\\:1",
    "a\\b:1",
    "a b:1",
    "a",
]


@MATCHING_BACKENDS
@pytest.mark.parametrize(
    ("prefix", "removed"),
    [
        ("a*", {"a*", "a*:1"}),
        ("a?", {"a?", "a?:1"}),
        ("a[b]", {"a[b]", "a[b]:1"}),
        ("a\\", {"a\\", "a\\:1"}),
        ("a b", {"a b:1"}),
        ("a", {"a"}),
    ],
)
def test_glob_metacharacters_in_a_prefix_match_only_themselves(
    cache: Cache, prefix: str, removed: set[str]
) -> None:
    cache.set_many(dict.fromkeys(GLOB_KEYS, 1))
    assert cache.invalidate_prefix(prefix) == len(removed)
    assert _left(cache, GLOB_KEYS) == set(GLOB_KEYS) - removed


@MATCHING_BACKENDS
def test_prefix_of_non_utf8_bytes(cache: Cache) -> None:
    keys = [b"\xff\xfe", b"\xff\xfe:1", b"\xff\xfe\x00:1", b"\xff:1"]
    cache.set_many(dict.fromkeys(keys, 1))
    assert cache.invalidate_prefix(b"\xff\xfe") == 2
    assert _left(cache, keys) == {b"\xff\xfe\x00:1", b"\xff:1"}


@MATCHING_BACKENDS
def test_prefix_stays_inside_the_namespace(backend_url: str, namespace: str) -> None:
    with two_namespaces(backend_url, namespace, namespace + "x") as (mine, theirs):
        for cache in (mine, theirs):
            cache.set_many({"dashboard": 1, "dashboard:1": 1}, tags=("t",))
        assert mine.invalidate_prefix("dashboard") == 2
        assert _left(mine, ["dashboard", "dashboard:1"]) == set()
        assert _left(theirs, ["dashboard", "dashboard:1"]) == {"dashboard", "dashboard:1"}


@MATCHING_BACKENDS
def test_invalidation_of_many_keys_crosses_scan_batches(cache: Cache) -> None:
    keys = [f"bulk:{i}" for i in range(2500)]
    cache.set_many(dict.fromkeys(keys, 0))
    cache.set("bulkhead", 1)
    assert cache.invalidate_prefix("bulk") == 2500
    assert _left(cache, keys) == set()
    assert cache.get("bulkhead") == 1


# -- invalidate_pattern -----------------------------------------------------------------------


@MATCHING_BACKENDS
@pytest.mark.parametrize(
    ("pattern", "removed"),
    [
        ("user:*", {"user:1", "user:22", "user:1:orders"}),
        ("user:?", {"user:1"}),
        ("user:[12]*", {"user:1", "user:22", "user:1:orders"}),
        ("*:orders", {"user:1:orders"}),
        ("*", {"user:1", "user:22", "user:1:orders", "users", "team:1"}),
        ("nothing*", set()),
    ],
)
def test_pattern_removes_matching_keys(cache: Cache, pattern: str, removed: set[str]) -> None:
    keys = ["user:1", "user:22", "user:1:orders", "users", "team:1"]
    cache.set_many(dict.fromkeys(keys, 1))
    assert cache.invalidate_pattern(pattern) == len(removed)
    assert _left(cache, keys) == set(keys) - removed


@MATCHING_BACKENDS
def test_pattern_is_matched_inside_the_namespace(backend_url: str, namespace: str) -> None:
    with two_namespaces(backend_url, namespace, namespace + "2") as (mine, theirs):
        mine.set("k", 1, tags=("t",))
        theirs.set("k", 2)
        assert mine.invalidate_pattern("*") == 1
        assert mine.get("k", MISS) is MISS
        assert theirs.get("k") == 2
        # The tag bookkeeping is outside '<namespace>:*' and still works.
        mine.set("k", 3, tags=("t",))
        assert mine.invalidate_tag("t") == 1


def test_pattern_and_prefix_leave_bookkeeping_keys_alone(
    redis_server: RedisServer, redis_url: str
) -> None:
    with Cache(redis_url, namespace="bk", **PATIENT) as cache:
        cache.set("k", 1, tags=("t",))
        cache.get("k")
        cache.publish_stats()
        assert cache.invalidate_pattern("*") == 1
    with redis_server.client() as raw:
        assert set(raw.scan_iter()) == {b"bk#tag:{t}", b"bk#stats"}


def test_invalidation_uses_scan_and_unlink_never_keys(own_redis: RedisServer) -> None:
    with Cache(own_redis.url, namespace="cmd", **PATIENT) as cache:
        cache.set_many({f"p:{i}": i for i in range(30)}, tags=("t",))
        cache.set_many({f"q:{i}": i for i in range(30)})
        with own_redis.client() as raw:
            raw.config_resetstat()
            cache.invalidate_prefix("p")
            cache.invalidate_pattern("q:*")
            cache.invalidate_tag("t")
            cache.delete("x", "y")
            commands = {name.removeprefix("cmdstat_") for name in raw.info("commandstats")}
    assert "keys" not in commands
    assert "del" not in commands
    assert {"scan", "unlink"} <= commands


# -- property tests against the real server and the embedded store ----------------------------

HOSTILE = st.lists(
    st.sampled_from(
        [b"a", b"b", b":", b"*", b"?", b"[", b"]", b"\\", b" ", b"^", b"\xff", b"\x00"]
    ),
    max_size=6,
).map(b"".join)
_counter = itertools.count()


def _fresh_cache(backend_url: str, namespace: str) -> Cache:
    return Cache(backend_url, namespace=f"{namespace}-{next(_counter)}", **PATIENT)


def _redis_keys(request: pytest.FixtureRequest, backend_url: str, cache: Cache) -> set[bytes]:
    """The cache's data keys as Redis itself lists them (an independent check)."""
    server: RedisServer = request.getfixturevalue("redis_server")
    with server.client() as raw:
        found = set(raw.scan_iter(match=cache.keys.data_glob, count=1000))
    return {cache.keys.app(k) for k in found}


def _check_left(
    request: pytest.FixtureRequest, backend_url: str, cache: Cache, keys: set[bytes], left: set
) -> None:
    assert set(cache.get_many(list(keys))) == left
    if backend_url.startswith("redis://"):
        assert _redis_keys(request, backend_url, cache) == left


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    keys=st.sets(HOSTILE, min_size=1, max_size=12),
    pick=st.integers(min_value=0),
    cut=st.integers(min_value=1, max_value=6),
    prefix=HOSTILE,
    use_picked=st.booleans(),
)
def test_prefix_property_hostile_keys(
    request: pytest.FixtureRequest,
    backend_url: str,
    namespace: str,
    keys: set[bytes],
    pick: int,
    cut: int,
    prefix: bytes,
    use_picked: bool,
) -> None:
    if use_picked:
        picked = sorted(keys)[pick % len(keys)]
        prefix = picked[:cut]
    if not prefix or prefix.endswith(b":"):
        prefix += b"a"
    expected_gone = {k for k in keys if k == prefix or k.startswith(prefix + b":")}
    with _fresh_cache(backend_url, namespace) as cache:
        cache.set_many(dict.fromkeys(keys, 1))
        assert cache.invalidate_prefix(prefix) == len(expected_gone)
        _check_left(request, backend_url, cache, keys, keys - expected_gone)


CLASS_BYTES = [b"a", b"b", b":", b"*", b"\xff"]
# A glob and an equivalent regex, built together from tokens (an oracle independent of
# cachectl's own glob translation).
GLOB_TOKENS = st.one_of(
    st.just((b"*", b".*")),
    st.just((b"?", b".")),
    st.sampled_from([b"a", b"b", b":", b" ", b"\xff", b"\x00"]).map(lambda c: (c, re.escape(c))),
    st.sampled_from([b"*", b"?", b"[", b"]", b"\\"]).map(lambda c: (b"\\" + c, re.escape(c))),
    st.tuples(
        st.booleans(), st.lists(st.sampled_from([b"a", b"b", b":", b"*", b"\xff"]), min_size=1)
    ).map(
        lambda t: (
            b"[" + (b"^" if t[0] else b"") + b"".join(b"\\" + c for c in t[1]) + b"]",
            b"[" + (b"^" if t[0] else b"") + b"".join(re.escape(c) for c in t[1]) + b"]",
        )
    ),
)


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(keys=st.sets(HOSTILE, min_size=1, max_size=12), tokens=st.lists(GLOB_TOKENS, max_size=5))
def test_pattern_property_hostile_keys(
    request: pytest.FixtureRequest,
    backend_url: str,
    namespace: str,
    keys: set[bytes],
    tokens: list[tuple[bytes, bytes]],
) -> None:
    glob = b"".join(t[0] for t in tokens)
    oracle = re.compile(b"(?s)\\A" + b"".join(t[1] for t in tokens) + b"\\Z")
    expected_gone = {k for k in keys if oracle.match(k)}
    with _fresh_cache(backend_url, namespace) as cache:
        cache.set_many(dict.fromkeys(keys, 1))
        assert cache.invalidate_pattern(glob) == len(expected_gone)
        _check_left(request, backend_url, cache, keys, keys - expected_gone)


# -- tags ---------------------------------------------------------------------------------------


@ALL_BACKENDS
def test_invalidate_tag_removes_exactly_the_tagged_entries(cache: Cache) -> None:
    cache.set("profile:42", 1, tags=("user:42",))
    cache.set("orders:42", 2, ttl=60, tags=("user:42", "orders"))
    cache.set_many({"feed:42:a": 3, "feed:42:b": 4}, tags=("user:42",))
    cache.set("profile:43", 5, tags=("user:43",))
    cache.set("orders:43", 6, tags=("orders",))
    cache.set("untagged", 7)
    everything = ["profile:42", "orders:42", "feed:42:a", "feed:42:b", "profile:43", "orders:43"]
    assert cache.invalidate_tag("user:42") == 4
    assert _left(cache, [*everything, "untagged"]) == {"profile:43", "orders:43", "untagged"}
    assert cache.invalidate_tag("user:42") == 0
    assert cache.invalidate_tag("user:43", "orders") == 2
    assert _left(cache, everything) == set()
    assert cache.invalidate_tag("never-used") == 0


@ALL_BACKENDS
def test_rewritten_entry_is_still_removed_by_its_tag(cache: Cache) -> None:
    cache.set("k", 1, tags=("t",))
    cache.set("k", 2, tags=("t",))
    assert cache.invalidate_tag("t") == 1
    assert cache.get("k", MISS) is MISS


def test_tags_must_be_a_sequence_of_strings(cache: Cache) -> None:
    with pytest.raises(ConfigError):
        cache.set("k", 1, tags="user:42")


@ALL_BACKENDS
async def test_async_tags(acache: AsyncCache) -> None:
    await acache.set("a", 1, tags=("t1",))
    await acache.set_many({"b": 2, "c": 3}, ttl=60, tags=("t1", "t2"))
    await acache.set("d", 4, tags=("t2",))
    assert await acache.invalidate_tag("t1") == 3
    assert await acache.get_many(["a", "b", "c", "d"]) == {"d": 4}
    assert await acache.invalidate_tag("t2") == 1


@MATCHING_BACKENDS
async def test_async_prefix_and_pattern(acache: AsyncCache) -> None:
    await acache.set_many(dict.fromkeys(DASHBOARD_KEYS, 1))
    assert await acache.invalidate_prefix("dashboard") == 5
    assert await acache.invalidate_prefix("a*") == 0
    assert await acache.invalidate_pattern("dashboards*") == 2
    assert set(await acache.get_many(DASHBOARD_KEYS)) == {"dashboardx", "dash", "other:dashboard"}


# -- tag bookkeeping in Redis -------------------------------------------------------------------


@pytest.fixture(params=["redis", "cluster"])
def raw_redis(
    request: pytest.FixtureRequest,
) -> Iterator[tuple[str, redis.Redis | redis.RedisCluster]]:
    """A cache URL and a plain client of the same server or cluster."""
    if request.param == "redis":
        server: RedisServer = request.getfixturevalue("redis_server")
        url = request.getfixturevalue("redis_url")
        with server.client() as client:
            yield url, client
    else:
        cluster: RedisCluster = request.getfixturevalue("redis_cluster")
        url = request.getfixturevalue("cluster_url")
        client = cluster.client()
        try:
            yield url, client
        finally:
            client.close()


def test_tag_set_expires_with_its_longest_member(
    raw_redis: tuple[str, redis.Redis], namespace: str
) -> None:
    url, raw = raw_redis
    tag_key = f"{namespace}#tag:{{user:42}}".encode()
    with Cache(url, namespace=namespace, **PATIENT) as cache:
        cache.set("short", 1, ttl=30, tags=("user:42",))
        cache.set("long", 1, ttl=300, tags=("user:42",))
        cache.set("short2", 1, ttl=60, tags=("user:42",))
        assert 200_000 < raw.pttl(tag_key) <= 300_000
        assert raw.pttl(tag_key) <= raw.pttl(f"{namespace}:long".encode()) + 1_000
        members = set(raw.zrange(tag_key, 0, -1))
        assert members == {f"{namespace}:{k}".encode() for k in ("short", "long", "short2")}
        cache.set("forever", 1, tags=("user:42",))
        assert raw.pttl(tag_key) == -1  # a member without a TTL keeps the set
        assert cache.invalidate_tag("user:42") == 4
        assert not raw.exists(tag_key)


def test_expired_members_are_reaped_on_the_next_tagged_write(
    raw_redis: tuple[str, redis.Redis], namespace: str
) -> None:
    url, raw = raw_redis
    tag_key = f"{namespace}#tag:{{t}}".encode()
    with Cache(url, namespace=namespace, **PATIENT) as cache:
        cache.set("old:1", 1, ttl=0.05, tags=("t",))
        cache.set_many({"old:2": 1, "old:3": 1}, ttl=0.05, tags=("t",))
        time.sleep(0.3)
        cache.set("new", 1, ttl=60, tags=("t",))
        assert raw.zrange(tag_key, 0, -1) == [f"{namespace}:new".encode()]
        assert 0 < raw.pttl(tag_key) <= 60_000


def test_tag_set_disappears_once_every_member_expired(
    raw_redis: tuple[str, redis.Redis], namespace: str
) -> None:
    url, raw = raw_redis
    tag_key = f"{namespace}#tag:{{gone}}".encode()
    with Cache(url, namespace=namespace, **PATIENT) as cache:
        cache.set_many({"a": 1, "b": 2}, ttl=0.05, tags=("gone",))
        time.sleep(0.3)
        assert not raw.exists(tag_key)
        assert cache.invalidate_tag("gone") == 0


@pytest.mark.parametrize("ttl", [None, 300])
def test_an_entry_written_again_during_tag_invalidation_keeps_its_tag(
    redis_url: str, namespace: str, ttl: float | None
) -> None:
    # invalidate_tags reads a batch, unlinks it, then forgets those members. A writer that
    # stores the same key with the same tag in between must stay invalidatable.
    from cachectl.backends.redis.scripts import forget_args

    with Cache(redis_url, namespace=namespace, **PATIENT) as cache:
        cache.set("k", "v1", ttl=ttl, tags=("t",))
        client = cache.backend.client  # type: ignore[attr-defined]
        tag_key = cache.keys.tag("t")
        pairs = client.zrange(tag_key, 0, -1, withscores=True)
        assert cache.backend.delete([member for member, _ in pairs]) == 1
        time.sleep(0.002)  # the rewrite lands at least a microsecond later
        cache.set("k", "v2", ttl=ttl, tags=("t",))
        client.execute_command(*forget_args(tag_key, pairs))
        assert cache.get("k") == "v2"
        assert cache.invalidate_tag("t") == 1
        assert cache.get("k", MISS) is MISS


# -- where scripts are refused ----------------------------------------------------------------


def test_prefix_invalidation_without_scripts(no_script_url: str) -> None:
    with Cache(no_script_url, namespace="acl", **PATIENT) as cache:
        cache.set_many({key: 1 for key in DASHBOARD_KEYS})
        cache.set_many({f"dashboard:n:{i}": i for i in range(2500)})
        with pytest.raises(redis.exceptions.NoPermissionError):
            cache.backend.client.eval("return 1", 0)  # type: ignore[attr-defined]
        assert cache.invalidate_prefix("dashboard") == 2500 + 5
        assert _left(cache, DASHBOARD_KEYS) == set(DASHBOARD_KEYS[5:])


async def test_async_prefix_invalidation_without_scripts(no_script_url: str) -> None:
    async with AsyncCache(no_script_url, namespace="acl", **PATIENT) as cache:
        await cache.set_many({key: 1 for key in DASHBOARD_KEYS})
        assert await cache.invalidate_prefix("dashboard") == 5
        left = set(await cache.get_many(DASHBOARD_KEYS))
        assert left == set(DASHBOARD_KEYS[5:])


@pytest.mark.parametrize("scripts", [True, False], ids=["server-side", "scripts-refused"])
def test_count_matching_counts_on_the_server_or_from_here(
    request: pytest.FixtureRequest, redis_url: str, scripts: bool
) -> None:
    url = redis_url if scripts else request.getfixturevalue("no_script_url")
    with Cache(url, namespace="count", **PATIENT) as cache:
        cache.set_many({key: 1 for key in DASHBOARD_KEYS})
        cache.set_many({f"dashboard:n:{i}": i for i in range(2500)})
        backend = cache.backend
        assert isinstance(backend, RedisBackend)
        for count in (10, 1000, 10_000):
            assert backend.count_matching(b"count:dashboard:*", count) == 2500 + 4
            assert backend.count_matching(b"count:nothing:*", count) == 0
