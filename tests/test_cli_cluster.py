"""The scanning commands on the three-primary Redis Cluster: every primary is covered."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from cachectl.cache import Cache
from cachectl.cli.app import app
from tests.plugins.cli import CLI_NAMESPACE, CliResult
from tests.servers import RedisCluster

pytestmark = pytest.mark.cluster

NS = CLI_NAMESPACE.encode() + b":"
HOSTILE = [b"a*", b"a?", b"[ab]", b"back\\slash", b"sp ace", b"\xff\xfe", b"a"]


def run(url: str, *args: str) -> CliResult:
    result = CliRunner().invoke(app, ["--url", url, "--namespace", CLI_NAMESPACE, *args])
    return CliResult(result.exit_code, result.stdout, result.stderr)


def left(cluster: RedisCluster) -> set[bytes]:
    with cluster.client() as client:
        return set(client.scan_iter(match=NS + b"*", count=1000))


@pytest.fixture
def populated(cluster_url: str, redis_cluster: RedisCluster) -> str:
    # Patient: a write that times out on a busy machine is owed to Redis as a deletion, which
    # close() replays, and the counts below would be short of it.
    patient = {"socket_timeout": 2.0, "connect_timeout": 2.0, "pool_timeout": 2.0}
    with Cache(cluster_url, namespace=CLI_NAMESPACE, stats_interval=0.01, **patient) as cache:
        for i in range(300):
            cache.set(f"page:{i}", {"i": i}, tags=["pages"] if i < 90 else ())
            cache.set(f"user:{i}", i)
            cache.get(f"page:{i}")
        cache.publish_stats()
    with redis_cluster.client() as client:
        owners = {client.get_node_from_key(NS + f"page:{i}".encode()).name for i in range(300)}
    assert len(owners) == 3, "the keys must be spread over every primary"
    return cluster_url


def test_plain_url_to_a_node_is_detected_as_cluster(
    populated: str, redis_cluster: RedisCluster
) -> None:
    plain = redis_cluster.url  # redis://, not redis+cluster://
    result = run(plain, "stats", "--json")
    assert result.exit_code == 0, result.stderr
    doc = result.json()
    assert doc["cluster"] is True
    assert len(doc["servers"]) == 3
    rows = {row["prefix"]: row for row in doc["prefixes"]}
    assert rows["page"]["keys"] == 300 and rows["user"]["keys"] == 300
    assert rows["page"]["hits"] == 300


def test_keys_covers_every_primary(populated: str) -> None:
    doc = run(populated, "keys", "--prefix", "page", "--limit", "1000", "--json").json()
    assert {row["key"] for row in doc["keys"]} == {f"page:{i}" for i in range(300)}
    top = run(populated, "keys", "--top", "5", "--json").json()
    assert top["count"] == 5
    tagged = run(populated, "keys", "--tag", "pages", "--limit", "500", "--json").json()
    assert tagged["count"] == 90


def test_inspect_on_a_cluster(populated: str) -> None:
    doc = run(populated, "inspect", "page:7", "--json").json()
    assert doc["value"] == {"i": 7} and doc["tags"] == ["pages"]


def test_flush_prefix_on_a_cluster(populated: str, redis_cluster: RedisCluster) -> None:
    dry = run(populated, "flush", "--prefix", "page", "--dry-run", "--json").json()
    assert dry["count"] == 300
    done = run(populated, "flush", "--prefix", "page", "--yes", "--json")
    assert done.exit_code == 0, done.stderr
    assert done.json()["removed"] == 300
    assert {k for k in left(redis_cluster) if k.startswith(NS + b"page")} == set()
    assert len(left(redis_cluster)) == 300


def test_flush_tag_and_all_on_a_cluster(populated: str, redis_cluster: RedisCluster) -> None:
    tag = run(populated, "flush", "--tag", "pages", "--yes", "--json").json()
    assert tag["removed"] == 90
    everything = run(populated, "flush", "--all", "--yes", "--json").json()
    assert everything["removed"] == 510
    assert left(redis_cluster) == set()
    with redis_cluster.client() as client:
        assert client.exists(CLI_NAMESPACE.encode() + b"#stats")


def test_flush_hostile_prefixes_on_a_cluster(cluster_url: str, redis_cluster: RedisCluster) -> None:
    names = {base + suffix for base in HOSTILE for suffix in (b"", b":1", b":x:y", b"z")}
    with redis_cluster.client() as client:
        for name in names:
            client.set(NS + name, b"v")
    for prefix in (b"a*", b"[ab]", b"\xff\xfe"):
        result = run(
            cluster_url, "flush", "--prefix", prefix.decode("utf-8", "surrogateescape"), "-y"
        )
        assert result.exit_code == 0, result.stderr
        names = {n for n in names if not (n == prefix or n.startswith(prefix + b":"))}
        assert {k[len(NS) :] for k in left(redis_cluster)} == names


def test_latency_one_row_per_primary(populated: str) -> None:
    doc = run(populated, "latency", "--samples", "5", "--interval", "0", "--json").json()
    nodes = {probe["node"] for probe in doc["probes"]}
    assert len(nodes) == 3 and len(doc["probes"]) == 9
    assert doc["cluster"] is True
