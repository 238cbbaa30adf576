"""Where Redis refuses scripts (an ACL without @scripting, as on some managed services), every
operation works from the client, on one server and on a cluster, sync and async: tagged writes,
tag invalidation, counters, stats. The tag sets end as TAG_SCRIPT leaves them."""

from __future__ import annotations

import asyncio
import math
import random
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from cachectl import AsyncCache, Cache
from cachectl.backends.redis import RedisBackend, scriptless
from cachectl.config import build_config
from cachectl.testing import CacheConformance, Face
from tests.plugins.core import VERY_PATIENT
from tests.plugins.servers import NO_SCRIPT_ACL, NO_SCRIPT_USER, no_script
from tests.servers import RedisCluster, RedisServer


@dataclass
class Target:
    """A server as the cache sees it (url) and as an operator does (raw, a plain client)."""

    url: str
    raw: Any


@pytest.fixture(params=["redis", pytest.param("cluster", marks=pytest.mark.cluster)])
def target(request: pytest.FixtureRequest) -> Iterator[Target]:
    """A server or a cluster where scripts are refused."""
    if request.param == "redis":
        url = str(request.getfixturevalue("no_script_url"))
        server: RedisServer = request.getfixturevalue("redis_server")
        with server.client() as raw:
            yield Target(url, raw)
        return
    url = str(request.getfixturevalue("no_script_cluster_url"))
    cluster: RedisCluster = request.getfixturevalue("redis_cluster")
    raw = cluster.client()
    try:
        yield Target(url, raw)
    finally:
        raw.close()


@pytest.fixture(params=["sync", "async"])
def make_face(request: pytest.FixtureRequest) -> Iterator[Callable[..., Face]]:
    """Makes a Cache or an AsyncCache (through cachectl.testing's adapter); closed after."""
    made: list[Face] = []

    def make(url: str, namespace: str, **options: Any) -> Face:
        options = {**VERY_PATIENT, "failure_threshold": 1000, **options}
        face = (
            Face(Cache(url, namespace=namespace, **options), None)
            if request.param == "sync"
            else Face(AsyncCache(url, namespace=namespace, **options), asyncio.new_event_loop())
        )
        made.append(face)
        return face

    yield make
    for face in made:
        face.close()


def _refused(face: Face) -> int:
    return sum(p.errors + p.fallback for p in face.stats().prefixes.values())


def _decorated(face: Face) -> Callable[[int], Any]:
    """A function cached under tag 'x', called the same way on both faces."""
    if isinstance(face.cache, Cache):
        return face.cache.cached(ttl=60, prefix="fn", tags=("x",))(lambda n: n * 10)

    async def times_ten(n: int) -> int:
        return n * 10

    wrapped = face.cache.cached(ttl=60, prefix="fn", tags=("x",))(times_ten)
    loop = face.loop
    assert loop is not None
    return lambda n: loop.run_until_complete(wrapped(n))


def test_every_tagged_write_is_stored_and_its_tag_removes_exactly_those(
    target: Target, make_face: Callable[..., Face], namespace: str
) -> None:
    c = make_face(target.url, namespace)
    c.set("a", 1, ttl=60, tags=("x",))
    c.set("b", 2, ttl=60, tags=("y",))
    c.set("c", 3)
    c.set_many({"d": 4, "e": 5}, tags=("x", "y"))
    assert c.add("f", 6, ttl=60, tags=("x",)) is True
    assert c.get_or_set("g", 7, ttl=60, tags=("x",)) == 7
    decorated = _decorated(c)
    assert decorated(1) == 10

    # What an operator sees on the server: every entry is there, under its tag.
    stored = [f"{namespace}:{k}".encode() for k in "abcdefg"]
    assert [target.raw.exists(k) for k in stored] == [1] * 7
    assert c.get_many(list("abcdefg")) == dict(zip("abcdefg", range(1, 8), strict=True))
    assert target.raw.zcard(f"{namespace}#tag:{{x}}") == 6  # a, d, e, f, g and the call

    assert c.invalidate_tag("x") == 6
    assert c.get_many(list("abcdefg")) == {"b": 2, "c": 3}
    assert target.raw.exists(f"{namespace}#tag:{{x}}") == 0
    records = sorted(set(target.raw.scan_iter(match=f"{namespace}#tag::*")))
    assert records == [f"{namespace}#tag::b".encode()]  # the others went with their entries
    assert target.raw.zrange(f"{namespace}#tag:{{y}}", 0, -1) == [
        f"{namespace}:{k}".encode() for k in "bde"
    ]  # d and e stay members of y: invalidating y later is harmless
    assert decorated(1) == 10
    assert c.breaker_state.value == "closed" and _refused(c) == 0


def _expiry_state(raw: Any, tag_key: str) -> tuple[int, int]:
    """(the set's expiry in unix ms, or -1; TAG_SCRIPT's: its longest-lived member's)."""
    top = raw.zrange(tag_key, -1, -1, withscores=True)
    last = top[0][1]
    return raw.pexpiretime(tag_key), -1 if last >= scriptless.NO_TTL_BASE else math.floor(last)


@pytest.mark.parametrize("scripts", [True, False], ids=["scripts-run", "scripts-refused"])
def test_the_tag_set_lives_as_long_as_its_longest_lived_member(
    request: pytest.FixtureRequest,
    redis_server: RedisServer,
    redis_url: str,
    make_face: Callable[..., Face],
    namespace: str,
    scripts: bool,
) -> None:
    # The same steps where the script runs and where the client does its work: the same sets.
    url = redis_url if scripts else str(request.getfixturevalue("no_script_url"))
    c = make_face(url, namespace)
    tag = f"{namespace}#tag:{{x}}"
    seen: list[tuple[str, int]] = []
    with redis_server.client() as raw:

        def look(step: str) -> None:
            expiry, wanted = _expiry_state(raw, tag)
            assert expiry == wanted, step
            seen.append((step, round(raw.pttl(tag) / 10_000)))  # tens of seconds left

        c.set("a", 1, ttl=50, tags=("x",))
        look("a new set")
        c.set("b", 1, ttl=100, tags=("x",))
        look("a longer-lived member")
        c.set("c", 1, ttl=10, tags=("x",))
        look("a shorter-lived member")
        c.set("d", 1, ttl=None, tags=("x",))
        look("a member without TTL")
        c.set("e", 1, ttl=10, tags=("x",))
        look("then one with a TTL")
        c.touch("d", 20)
        look("the member without TTL gets one")
        c.touch("b", 5)
        look("the longest-lived member gets shorter")
        assert c.invalidate_tag("x") == 5
        assert raw.exists(tag) == 0
    assert seen == [
        ("a new set", 5),
        ("a longer-lived member", 10),
        ("a shorter-lived member", 10),
        ("a member without TTL", 0),
        ("then one with a TTL", 0),
        ("the member without TTL gets one", 10),
        ("the longest-lived member gets shorter", 5),
    ]
    assert c.breaker_state.value == "closed" and _refused(c) == 0


def test_racing_writers_leave_no_member_outliving_its_tag_set(
    target: Target, namespace: str
) -> None:
    # Four writers at once on one tag, TTLs all over the place, some without: at every moment
    # no member outlives the set, and once they are done the set has TAG_SCRIPT's expiry.
    tag = f"{namespace}#tag:{{hot}}"
    errors: list[BaseException] = []
    stop = threading.Event()
    caches = [Cache(target.url, namespace=namespace, **VERY_PATIENT) for _ in range(4)]

    def write(cache: Cache, seed: int, none_every: int) -> None:
        pick = random.Random(seed)
        try:
            for i in range(60):
                ttl = None if none_every and i % none_every == 0 else pick.uniform(1, 300)
                cache.set(f"k{pick.randrange(40)}", i, ttl=ttl, tags=("hot",))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    def check() -> None:
        while not stop.is_set():
            # Read in one MULTI so that the set is seen in one state.
            pipe = target.raw.pipeline(transaction=True)
            expiry, top = pipe.pexpiretime(tag).zrange(tag, -1, -1, withscores=True).execute()
            if top:
                last = top[0][1]
                if last >= scriptless.NO_TTL_BASE:
                    assert expiry == -1, "a member without TTL in a set that expires"
                elif expiry == -1:
                    # Only for a moment, where a member without TTL got one (then corrected);
                    # with TTLs only, even a new set is never without expiry.
                    assert none_every, "a set of members with TTLs that never expires"
                else:
                    assert expiry >= math.floor(last), "a member outlives its tag set"

    try:
        for none_every in (0, 25):  # first with TTLs only, then some without
            stop.clear()
            checker = threading.Thread(target=lambda: errors.extend(_run(check)))
            checker.start()
            writers = [
                threading.Thread(target=write, args=(cache, seed, none_every))
                for seed, cache in enumerate(caches)
            ]
            for thread in writers:
                thread.start()
            for thread in writers:
                thread.join(timeout=120)
            stop.set()
            checker.join(timeout=30)
            assert errors == []
            if none_every:
                # Whichever writer wrote a key last decides whether its member has a TTL: one
                # written now without one, so that the set must end without expiry.
                caches[0].set("forever", 0, ttl=None, tags=("hot",))
            caches[0].set("last", 0, ttl=30, tags=("hot",))  # alone: the set is made exact
            expiry, wanted = _expiry_state(target.raw, tag)
            assert expiry == wanted
            assert (expiry == -1) is (none_every > 0)
        assert all(
            c.breaker_state.value == "closed" and _refused(Face(c, None)) == 0 for c in caches
        )
    finally:
        stop.set()
        for cache in caches:
            cache.close()


def _run(check: Callable[[], None]) -> list[BaseException]:
    try:
        check()
    except BaseException as exc:  # pragma: no cover - reported by the test
        return [exc]
    return []


def test_counters_and_stats_work_where_scripts_are_refused(
    target: Target, make_face: Callable[..., Face], namespace: str
) -> None:
    c = make_face(target.url, namespace)
    c.set("n:1", 5, ttl=60)
    assert c.incr("n:1", 3) == 8
    assert c.decr("n:1") == 7
    assert 0 < c.ttl("n:1") <= 60
    assert c.get("n:1") == 7
    c.get("n:2")
    c.publish_stats()
    published = c.published_stats().prefixes["n"]
    assert (published.hits, published.misses, published.sets) == (1, 1, 3)
    assert target.raw.ttl(f"{namespace}#stats") > 0
    assert c.breaker_state.value == "closed" and _refused(c) == 0


def test_stats_published_from_the_client_are_those_the_script_writes(
    redis_server: RedisServer, redis_url: str, no_script_url: str
) -> None:
    # A hash the script would find: a place count at the cap but one, a field that is not an
    # integer, one a careless writer left. The same delta published both ways: the same hash.
    seeded = {b"#prefixes": b"2", b"prefix:a": b"1", b"hits:a": b"oops", b"sets:a": b"4"}
    delta = {b"hits:a": 2, b"sets:a": 1, b"hits:b": 1, b"hits:c": 5, b"lat:c:7": 1}
    results = []
    with redis_server.client() as raw:
        for url in (redis_url, no_script_url):
            raw.delete(b"pub#stats")
            raw.hset(b"pub#stats", mapping=seeded)
            backend = RedisBackend(build_config(url, namespace="pub", **VERY_PATIENT))
            try:
                backend.incr_counters(b"pub#stats", delta, ttl=100, max_prefixes=3)
            finally:
                backend.close()
            results.append((raw.hgetall(b"pub#stats"), raw.ttl(b"pub#stats")))
    assert results[0] == results[1]
    assert results[1][0][b"hits:(other)"] == b"5"  # c found no place: (other) took it


def test_a_tagged_write_where_scripts_run_sends_no_command_of_the_fallback(
    own_redis: RedisServer, namespace: str
) -> None:
    # The fallback costs nothing where scripts run: no TIME, MULTI or RENAMENX from the client.
    with Cache(own_redis.url, namespace=namespace, **VERY_PATIENT) as c:
        c.set("a", 1, ttl=60, tags=("x",))
        c.set_many({"b": 2}, tags=("x",))
        c.touch("a", None)
        assert c.invalidate_tag("x") == 2
    with own_redis.client() as raw:
        called = {name.removeprefix("cmdstat_") for name in raw.info("commandstats")}
    assert {"eval", "set"} <= called
    assert not called & {"multi", "watch", "renamenx", "pexpiretime", "zmscore"}


@pytest.mark.usefixtures("watchdog")
def test_owed_tag_invalidations_are_replayed_where_scripts_are_refused(
    own_redis: RedisServer, make_face: Callable[..., Face], namespace: str
) -> None:
    # The breaker's replay runs the same tag invalidation: it must close where scripts are
    # refused, having removed what the outage owed.
    with own_redis.client() as admin:
        admin.execute_command("ACL", "SETUSER", NO_SCRIPT_USER, *NO_SCRIPT_ACL)
    quick = {"socket_timeout": 0.25, "connect_timeout": 0.25, "recovery_interval": 0.2}
    c = make_face(no_script(own_redis.url), namespace, failure_threshold=1, **quick)
    c.set("a", 1, ttl=60, tags=("x",))
    c.set("b", 2, ttl=60, tags=("y",))
    own_redis.pause()
    try:
        c.invalidate_tag("x")
        c.set("c", 3, ttl=60, tags=("x",))
        assert c.breaker_state.value == "open"
    finally:
        own_redis.resume()
    for _ in range(500):  # a hang guard: the reads drive the probe and the replay
        if c.get("probe") is None and c.breaker_state.value == "closed":
            break
        time.sleep(0.02)
    assert c.breaker_state.value == "closed"
    assert c.get_many(["a", "b", "c"]) == {"b": 2}
    with own_redis.client() as raw:
        assert raw.exists(f"{namespace}:a", f"{namespace}:c") == 0
    c.set("d", 4, ttl=60, tags=("x",))
    assert c.invalidate_tag("x") == 1
    assert c.get_many(["b", "d"]) == {"b": 2}


def test_forgetting_keeps_a_member_written_again_meanwhile() -> None:
    # The invalidation read these scores, then unlinked the keys; b was written again since.
    pairs = [(b"a", 1000.125), (b"b", 1000.125), (b"c", 1000.5)]
    assert scriptless.unchanged(pairs, [1000.125, 2000.25, None]) == [b"a"]


class TestConformanceWhereScriptsAreRefused(CacheConformance):
    """The whole shipped suite, as a user that may not run scripts."""

    @pytest.fixture
    def cache_url(self, no_script_url: str) -> str:
        return no_script_url
