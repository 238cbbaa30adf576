"""ops.doctor on real servers: each situation of issue 20 seeded alone, on a plain server and on
a three-primary cluster of this module's own (both set up as a cache should be: maxmemory and
allkeys-lru, so that the server adds no finding of its own), and the doctor reports exactly
the seeded findings; then the server findings, the ACL degradation, and the rules' figures."""

from __future__ import annotations

import hashlib
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from hypothesis import given
from hypothesis import strategies as st

from cachectl import Cache
from cachectl.config import CacheConfig
from cachectl.keys import KeySpace, prefix_of
from cachectl.ops.connect import Connection, connection, for_cache
from cachectl.ops.doctor import Diagnosis, diagnose
from cachectl.ops.doctor.census import _Tally
from cachectl.ops.doctor.model import NodeFacts
from cachectl.ops.doctor.settings import findings as server_findings
from tests.doctor_support import HEALTHY, SITUATIONS, healthy, healthy_stats, publish
from tests.servers import RedisCluster, RedisServer

#: As a cache server should be set: a limit, and eviction of any key.
CACHE_SETTINGS = {"maxmemory": str(1024**3), "maxmemory-policy": "allkeys-lru"}


def _configure(client: redis.Redis) -> None:
    for name, value in CACHE_SETTINGS.items():
        client.config_set(name, value)


@pytest.fixture(scope="module")
def cache_server() -> Iterator[RedisServer]:
    """A redis-server of this module's own, set up for a cache."""
    with RedisServer() as server:
        with server.client() as client:
            _configure(client)
        yield server


@pytest.fixture(scope="module")
def cache_cluster() -> Iterator[RedisCluster]:
    """A three-primary cluster of this module's own, each node set up for a cache."""
    with RedisCluster() as cluster:
        for node in cluster.nodes:
            with node.client() as client:
                _configure(client)
        yield cluster


@pytest.fixture(params=["redis", "cluster"])
def target(request: pytest.FixtureRequest) -> Iterator[tuple[str, Any]]:
    """(URL, redis-py client) of the module's server or cluster, flushed."""
    if request.param == "redis":
        server: RedisServer = request.getfixturevalue("cache_server")
        with server.client() as client:
            client.flushall()
            yield server.url, client
        return
    cluster: RedisCluster = request.getfixturevalue("cache_cluster")
    cluster.flush()
    client = cluster.client()
    try:
        yield f"redis+cluster://127.0.0.1:{cluster.ports[0]}/0", client
    finally:
        client.close()


@pytest.fixture
def ns(request: pytest.FixtureRequest) -> str:
    return "d-" + hashlib.blake2b(request.node.nodeid.encode(), digest_size=5).hexdigest()


def run(url: str, ns: str, **kwargs: Any) -> Diagnosis:
    config = CacheConfig(url=url, namespace=ns, socket_timeout=5.0, connect_timeout=5.0)
    with connection(config) as conn:
        return diagnose(conn, **kwargs)


def ids(diagnosis: Diagnosis) -> set[str]:
    return {finding.id for finding in diagnosis.findings}


def only(diagnosis: Diagnosis, finding_id: str) -> Any:
    found = [f for f in diagnosis.findings if f.id == finding_id]
    assert len(found) == 1, diagnosis.findings
    return found[0]


def figures(finding: Any) -> dict[str, Any]:
    return {figure.name: figure.value for figure in finding.evidence}


@pytest.mark.parametrize("situation", list(SITUATIONS))
def test_each_situation_gives_exactly_its_findings(
    target: tuple[str, Any], ns: str, situation: str
) -> None:
    url, client = target
    seed, expected = SITUATIONS[situation]
    seed(client, url, ns)
    diagnosis = run(url, ns)
    assert ids(diagnosis) == expected, [f.title for f in diagnosis.findings]
    if situation == "healthy":
        assert diagnosis.findings == ()
        assert diagnosis.scope.entries == 60 and diagnosis.scope.tag_sets == 3


def test_the_low_hit_ratio_prefix_gets_a_ttl_from_its_rates(
    target: tuple[str, Any], ns: str
) -> None:
    url, client = target
    SITUATIONS["low hit ratio"][0](client, url, ns)
    finding = only(run(url, ns), "cache-not-helping")
    seen = figures(finding)
    assert finding.subject == "users" and finding.severity == "warning"
    assert seen["hit_ratio"] == pytest.approx(0.1)
    assert seen["hits_per_write"] == pytest.approx(100 / 900, abs=1e-3)
    # Written with a 60 s TTL and read 0.11 times a write: four hits a write need ~36x it.
    assert 55 <= seen["ttl"] <= 75
    assert 60 * 36 * 0.9 <= seen["recommended_ttl"] <= 75 * 36 * 1.1
    assert "Raise the TTL of 'users' from about" in finding.recommendation


def test_the_write_only_prefix_holds_memory(target: tuple[str, Any], ns: str) -> None:
    url, client = target
    SITUATIONS["write-only prefix"][0](client, url, ns)
    finding = only(run(url, ns), "never-read")
    seen = figures(finding)
    assert finding.subject == "audit" and seen["sets"] == 500 and seen["entries"] == 30
    assert seen["memory"] > 30 * 40  # MEMORY USAGE of its entries


def test_a_big_value_is_named_with_its_sizes(target: tuple[str, Any], ns: str) -> None:
    url, client = target
    SITUATIONS["2 MB value"][0](client, url, ns)
    finding = only(run(url, ns), "big-values")
    seen = figures(finding)
    assert finding.affected.items == (b"reports:annual",)
    assert seen["largest_stored"] > 2 * 1024 * 1024  # msgpack's and the header's bytes too
    assert seen["largest_decoded"] == seen["largest_stored"] - 3
    assert finding.sample.exact


def test_a_huge_tag_says_how_long_its_invalidation_takes(target: tuple[str, Any], ns: str) -> None:
    url, client = target
    SITUATIONS["200k-member tag"][0](client, url, ns)
    finding = only(run(url, ns), "huge-tag")
    seen = figures(finding)
    assert finding.subject == "catalog" and seen["members"] == 200_000
    assert seen["batches"] == 200
    assert seen["read_ms"] > 0 and seen["round_trip_ms"] > 0  # measured
    # The server's share from flush's budget: 2 deletions a member at 6 ms per 4,000 keys.
    assert seen["server_seconds"] == pytest.approx(0.6, abs=0.001)
    assert seen["seconds"] > seen["server_seconds"]


def test_foreign_values_are_counted_by_kind(target: tuple[str, Any], ns: str) -> None:
    url, client = target
    SITUATIONS["foreign values"][0](client, url, ns)
    finding = only(run(url, ns), "undecodable")
    seen = figures(finding)
    assert finding.subject == "legacy" and seen["entries"] == 4
    assert sorted(seen["kinds"].split(", ")) == ["corrupt 1", "hash 1", "json 1", "pickle 1"]
    assert sorted(finding.affected.items) == [b"legacy:1", b"legacy:2", b"legacy:3", b"legacy:4"]


def test_the_breaker_figures_are_read_when_published(target: tuple[str, Any], ns: str) -> None:
    url, client = target
    SITUATIONS["breaker opened"][0](client, url, ns)
    diagnosis = run(url, ns)
    seen = figures(only(diagnosis, "breaker-opened"))
    assert (seen["opened"], seen["owed"], seen["owed_all"]) == (3, 42, 0)
    assert not any("not published" in note for note in diagnosis.notes)


def test_without_the_breaker_fields_it_says_they_are_not_published(
    target: tuple[str, Any], ns: str
) -> None:
    url, client = target
    healthy(url, ns)
    healthy_stats(client, ns)
    diagnosis = run(url, ns)
    assert diagnosis.findings == ()
    assert any("not published by the version" in note for note in diagnosis.notes)


def test_stale_stats_say_their_age(target: tuple[str, Any], ns: str) -> None:
    url, client = target
    SITUATIONS["stale stats"][0](client, url, ns)
    seen = figures(only(run(url, ns), "stats-stale"))
    assert 7200 <= seen["age"] <= 7260


def test_everything_at_once(target: tuple[str, Any], ns: str) -> None:
    from tests.doctor_support import seed_everything

    url, client = target
    expected = seed_everything(client, url, ns)
    assert ids(run(url, ns)) == expected


def test_prefix_narrows_the_diagnosis(target: tuple[str, Any], ns: str) -> None:
    url, client = target
    SITUATIONS["low hit ratio"][0](client, url, ns)
    SITUATIONS["keys without TTL"][0](client, url, ns)
    publish(client, ns, {HEALTHY: (9000, 1000, 1000), "users": (100, 900, 900)})
    assert ids(run(url, ns)) == {"cache-not-helping", "no-ttl"}
    users = run(url, ns, prefix="users")
    assert ids(users) == {"cache-not-helping"} and users.scope.entries == 20
    assert ids(run(url, ns, prefix="settings")) == {"no-ttl"}
    assert ids(run(url, ns, prefix="nothing")) == {"empty"}


def test_an_empty_namespace_is_a_finding(target: tuple[str, Any], ns: str) -> None:
    url, _client = target
    diagnosis = run(url, ns)
    assert ids(diagnosis) == {"empty"}
    assert diagnosis.scope.entries == 0


def test_the_sample_is_bounded_and_extrapolated(target: tuple[str, Any], ns: str) -> None:
    url, client = target
    with Cache(url, namespace=ns, socket_timeout=5.0, connect_timeout=5.0, stats=False) as cache:
        for i in range(3000):
            cache.set(f"items:{i}", i, ttl=None if i % 3 == 0 else 600)
    healthy_stats(client, ns)
    diagnosis = run(url, ns, sample=300)
    assert diagnosis.scope.entries == 3000 and diagnosis.scope.sampled == 300
    finding = only(diagnosis, "no-ttl")
    seen = figures(finding)
    assert finding.sample.size == 300 and finding.sample.population == 3000
    assert not finding.sample.exact
    assert 700 <= seen["entries"] <= 1300  # a third of 3,000, from 300 sampled
    estimated = {figure.name for figure in finding.evidence if figure.estimated}
    assert estimated == {"entries", "memory"}


# -- the server -------------------------------------------------------------------------------


def test_noeviction_near_full_is_an_error(own_redis: RedisServer) -> None:
    with own_redis.client() as client:
        healthy(own_redis.url, "d-full")
        healthy_stats(client, "d-full")
        used = int(client.info("memory")["used_memory"])
        client.config_set("maxmemory-policy", "noeviction")
        client.config_set("maxmemory", str(int(used / 0.95)))
    diagnosis = run(own_redis.url, "d-full")
    assert {(f.id, f.severity) for f in diagnosis.findings} == {
        ("memory-near-full", "error"),
        ("noeviction", "warning"),
    }
    seen = figures(only(diagnosis, "memory-near-full"))
    assert seen["used_share"] >= 0.9 and seen["policy"] == "noeviction"


def test_noeviction_near_full_on_each_primary(cache_cluster: RedisCluster) -> None:
    cache_cluster.flush()
    clients = [node.client() for node in cache_cluster.nodes]
    try:
        for client in clients:
            used = int(client.info("memory")["used_memory"])
            client.config_set("maxmemory-policy", "noeviction")
            client.config_set("maxmemory", str(int(used / 0.95)))
        diagnosis = run(f"redis+cluster://127.0.0.1:{cache_cluster.ports[0]}/0", "d-full")
    finally:
        for client in clients:
            _configure(client)
            client.close()
    full = [f for f in diagnosis.findings if f.id == "memory-near-full"]
    assert sorted(f.subject for f in full) == sorted(
        f"127.0.0.1:{port}" for port in cache_cluster.ports
    )
    assert ids(diagnosis) == {"memory-near-full", "noeviction", "empty"}


def test_a_server_without_a_limit(redis_url: str, redis_server: RedisServer) -> None:
    # The shared fixture server runs with Redis's defaults: no limit, noeviction.
    with redis_server.client() as client:
        if int(client.config_get("maxmemory")["maxmemory"]):
            pytest.skip("the shared server has a memory limit")
        healthy(redis_url, "d-nolimit")
        healthy_stats(client, "d-nolimit")
    finding = only(run(redis_url, "d-nolimit"), "maxmemory-unset")
    assert finding.severity == "warning" and finding.subject_kind == "node"


def test_the_shared_cluster_fixture_is_judged_per_primary(
    cluster_url: str, redis_cluster: RedisCluster
) -> None:
    client = redis_cluster.client()
    try:
        healthy(cluster_url, "d-shared")
        healthy_stats(client, "d-shared")
        SITUATIONS["foreign values"][0](client, cluster_url, "d-shared")
    finally:
        client.close()
    diagnosis = run(cluster_url, "d-shared")
    nodes = {f.subject for f in diagnosis.findings if f.id == "maxmemory-unset"}
    assert nodes == {f"127.0.0.1:{port}" for port in redis_cluster.ports}
    assert ids(diagnosis) - {"maxmemory-unset"} == {"undecodable"}


@pytest.mark.parametrize(
    ("facts", "expected"),
    [
        (NodeFacts("n", used_memory=10, maxmemory=100, policy="allkeys-lru"), set()),
        (NodeFacts("n", used_memory=10, maxmemory=0, policy="noeviction"), {"maxmemory-unset"}),
        (
            NodeFacts("n", used_memory=95, maxmemory=100, policy="allkeys-lru"),
            {"memory-near-full"},
        ),
        (
            NodeFacts("n", maxmemory=100, policy="allkeys-lru", evicted_keys=60, expired_keys=40),
            {"evictions"},
        ),
        (
            NodeFacts("n", maxmemory=100, policy="allkeys-lru", evicted_keys=10, expired_keys=90),
            set(),
        ),
        (
            NodeFacts("n", used_memory=200 << 20, rss=500 << 20, fragmentation=2.5, maxmemory=0),
            {"maxmemory-unset", "fragmentation"},
        ),
        # A small server's ratio means nothing: 3 MB of RSS over 1 MB used.
        (
            NodeFacts("n", used_memory=1 << 20, rss=3 << 20, fragmentation=3.0, maxmemory=1 << 30),
            set(),
        ),
        (NodeFacts("n"), set()),  # nothing readable: notes, no guess
    ],
)
def test_server_rules(facts: NodeFacts, expected: set[str]) -> None:
    assert {f.id for f in server_findings([facts])} == expected


# -- who may read what ------------------------------------------------------------------------

LIMITED_USER = "doctor-limited"


@pytest.fixture
def acl_user(cache_server: RedisServer) -> Iterator[Any]:
    """Make ACL users on the module's server; deleted after the test."""
    made: list[str] = []

    def make(*rules: str) -> str:
        with cache_server.client() as admin:
            admin.execute_command("ACL", "SETUSER", LIMITED_USER, "reset", "on", ">pw", *rules)
        made.append(LIMITED_USER)
        return cache_server.url.replace("redis://", f"redis://{LIMITED_USER}:pw@")

    yield make
    with cache_server.client() as admin:
        for user in made:
            admin.execute_command("ACL", "DELUSER", user)


def test_a_user_refused_info_and_config_gets_notes(
    cache_server: RedisServer, acl_user: Any, ns: str
) -> None:
    with cache_server.client() as client:
        client.flushall()
        SITUATIONS["keys without TTL"][0](client, cache_server.url, ns)
        client.config_set("maxmemory", "0")  # would be a finding, if it could be read
    try:
        url = acl_user("~*", "+@all", "-info", "-config")
        diagnosis = run(url, ns)
    finally:
        with cache_server.client() as client:
            _configure(client)
    assert ids(diagnosis) == {"no-ttl"}
    (note,) = [n for n in diagnosis.notes if "not checked" in n]
    assert "maxmemory, the eviction policy, memory in use" in note
    assert "INFO (" in note and "CONFIG GET (" in note


def test_a_user_refused_config_only_reads_info(
    cache_server: RedisServer, acl_user: Any, ns: str
) -> None:
    with cache_server.client() as client:
        client.flushall()
        healthy(cache_server.url, ns)
        healthy_stats(client, ns)
        client.config_set("maxmemory", "0")
    try:
        diagnosis = run(acl_user("~*", "+@all", "-config"), ns)
    finally:
        with cache_server.client() as client:
            _configure(client)
    assert ids(diagnosis) == {"maxmemory-unset"}  # from INFO
    assert not any("not checked" in n for n in diagnosis.notes)


def test_a_user_refused_scripts_gets_the_same_findings(
    cache_server: RedisServer, acl_user: Any, ns: str
) -> None:
    with cache_server.client() as client:
        client.flushall()
        for name in ("foreign values", "keys without TTL", "2 MB value"):
            SITUATIONS[name][0](client, cache_server.url, ns)
    admin = run(cache_server.url, ns)
    limited = run(acl_user("~*", "+@all", "-@scripting"), ns)
    assert ids(admin) == ids(limited) == {"undecodable", "no-ttl", "big-values"}
    assert [f.to_dict() for f in admin.findings] == [f.to_dict() for f in limited.findings]


# -- the embedded store -----------------------------------------------------------------------


def test_the_embedded_store_is_diagnosed_too() -> None:
    with Cache("memory://", namespace="d-mem") as cache:
        for i in range(10):
            cache.set(f"{HEALTHY}:{i}", i, ttl=600)
        cache.set("settings:a", 1)
        conn: Connection = for_cache(cache)
        try:
            diagnosis = diagnose(conn)
        finally:
            conn.close()
    assert ids(diagnosis) == {"no-ttl"}
    assert diagnosis.scope.entries == 11


def test_keys_with_line_feeds_and_tags_records_are_counted(
    target: tuple[str, Any], ns: str
) -> None:
    url, client = target
    with Cache(url, namespace=ns, socket_timeout=5.0, connect_timeout=5.0, stats=False) as cache:
        for i in range(30):
            cache.set(f"notes:{i}\nline two", i, ttl=600, tags=["notes"])
        cache.set("notes\n:odd", 1)  # its first segment holds the line feed
    healthy_stats(client, ns)
    diagnosis = run(url, ns)
    assert diagnosis.scope.entries == 31 and diagnosis.scope.tag_sets == 1
    finding = only(diagnosis, "no-ttl")
    assert finding.subject == "notes\n" and finding.affected.items == (b"notes\n:odd",)
    assert ids(diagnosis) == {"no-ttl"}


# -- the census's counting, against a brute force ---------------------------------------------

_SEGMENTS = st.sampled_from([b"users", b"use", b"orders", b"", b"a\nb", b"x" * 3, b"\xff"])
_KEYS = st.one_of(
    st.builds(lambda h, r: b"ns:" + h + b":" + r, _SEGMENTS, st.binary(max_size=6)),
    st.builds(lambda h: b"ns:" + h, _SEGMENTS),  # an entry that is its own first segment
    st.builds(lambda t: b"ns#tag:{" + t + b"}", st.binary(max_size=4)),
    st.builds(lambda k: b"ns#tag::" + k, st.binary(max_size=4)),
    st.sampled_from([b"ns#stats", b"ns#audit"]),
)


@given(st.lists(st.lists(_KEYS, max_size=30), max_size=8), st.integers(1, 20))
def test_the_census_counts_every_batch_as_a_brute_force_does(
    batches: list[list[bytes]], limit: int
) -> None:
    tally = _Tally(KeySpace("ns"), limit, None)
    for batch in batches:
        tally.add(batch)
    census = tally.result()
    every = [key for batch in batches for key in batch]
    entries = [key for key in every if key.startswith(b"ns:")]
    assert census.counts == +Counter(prefix_of(key[3:]) for key in entries)
    tag_sets = [k for k in every if k.startswith(b"ns#tag:{") and k.endswith(b"}")]
    assert census.tag_sets_total == len(tag_sets)
    assert len(census.sample) <= limit
    assert all(key in entries for _label, key in census.sample)
    assert all(label == prefix_of(key[3:]) for label, key in census.sample)


def test_a_breaker_the_library_opened_is_reported(own_redis: RedisServer) -> None:
    from cachectl.breaker import BreakerState

    with own_redis.client() as client:
        _configure(client)
    url = own_redis.url
    with Cache(url, namespace="d-trip", failure_threshold=1, recovery_interval=0.05) as cache:
        for i in range(20):
            cache.set(f"{HEALTHY}:{i}", i, ttl=600)
        own_redis.pause()  # every call now times out: the breaker opens
        try:
            for _ in range(5):
                cache.get(f"{HEALTHY}:1")
                cache.delete(f"{HEALTHY}:2")  # owed to Redis
            assert cache.breaker_state is not BreakerState.CLOSED
        finally:
            own_redis.resume()
        deadline = time.monotonic() + 30
        while cache.breaker_state is not BreakerState.CLOSED and time.monotonic() < deadline:
            cache.get(f"{HEALTHY}:1")
            time.sleep(0.05)
        assert cache.breaker_state is BreakerState.CLOSED
        cache.publish_stats()
    finding = only(run(url, "d-trip"), "breaker-opened")
    seen = figures(finding)
    assert seen["opened"] >= 1 and seen["owed"] >= 1
