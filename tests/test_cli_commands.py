"""Every command and option, in process (Typer's CliRunner), against a real redis-server."""

from __future__ import annotations

import gzip
import json
import random
import re
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import redis

from cachectl.cache import Cache
from tests.plugins.cli import CLI_NAMESPACE, CliResult

Cli = Callable[..., CliResult]
NS = CLI_NAMESPACE.encode()


def full(key: str) -> bytes:
    return NS + b":" + key.encode()


def keys_in(client: redis.Redis, glob: str = "*") -> set[bytes]:
    return set(client.scan_iter(match=NS + b":" + glob.encode(), count=1000))


@pytest.fixture
def seeded(cli_cache: Cache) -> Cache:
    """Two prefixes with reads (dashboard: 3 of 4 hit; product: 1 of 4), a tag, stats published."""
    for i in range(20):
        # Random text does not compress: the stored size grows with i.
        rows = [random.Random(i * 1000 + j).randbytes(20).hex() for j in range(3 * (i + 1))]
        cli_cache.set(f"dashboard:{i}", {"user": i, "rows": rows}, ttl=600)
    for i in range(5):
        cli_cache.set(f"product:{i}", {"sku": i}, tags=["catalog"])
    for i in range(40):
        cli_cache.get(f"dashboard:{i % 20}" if i < 30 else f"dashboard:missing{i}")
        cli_cache.get(f"product:{i % 20}")
    cli_cache.publish_stats()
    return cli_cache


# -- stats ------------------------------------------------------------------------------------


def test_stats_table(cli: Cli, seeded: Cache) -> None:
    result = cli("stats")
    assert result.exit_code == 0, result.stderr
    assert "keyspace hits" in result.stdout and "eviction policy" in result.stdout
    rows = {
        line.split()[0]: line.split()[1:] for line in result.stdout.splitlines() if line.strip()
    }
    # prefix, hits, misses, ratio, sets, errors, fallback, p50, p99, keys, memory (2 words)
    assert rows["dashboard"][:6] == ["30", "10", "75.0%", "20", "0", "0"]
    assert rows["product"][:4] == ["10", "30", "25.0%", "5"]
    assert rows["total"][:3] == ["40", "40", "50.0%"]
    assert rows["dashboard"][8] == "20"


def test_stats_json_figures(cli: Cli, seeded: Cache) -> None:
    doc = cli("stats", "--json").json()
    rows = {row["prefix"]: row for row in doc["prefixes"]}
    assert rows["dashboard"]["hits"] == 30 and rows["dashboard"]["misses"] == 10
    assert rows["dashboard"]["keys"] == 20
    assert rows["product"]["hits"] == 10 and rows["product"]["misses"] == 30
    assert rows["product"]["keys"] == 5
    assert rows["dashboard"]["memory"] > rows["product"]["memory"] > 0
    assert rows["dashboard"]["p50_ms"] is not None and rows["dashboard"]["p99_ms"] is not None
    assert doc["keys_exact"] is True
    server = doc["servers"][0]
    assert server["version"].startswith(("6.", "7.", "8."))
    assert server["keyspace_hits"] > 0 and server["connected_clients"] >= 1
    assert {"used_memory", "peak_memory", "max_memory", "evicted_keys", "uptime_seconds"} <= set(
        server
    )


def test_stats_one_prefix(cli: Cli, seeded: Cache) -> None:
    doc = cli("stats", "--prefix", "product", "--format", "json").json()
    assert [row["prefix"] for row in doc["prefixes"]] == ["product"]
    assert doc["prefixes"][0]["keys"] == 5


def test_stats_min_hit_ratio(cli: Cli, seeded: Cache) -> None:
    assert cli("stats", "--min-hit-ratio", "0.2").exit_code == 0
    failed = cli("stats", "--min-hit-ratio", "0.5", "--json")
    assert failed.exit_code == 1
    assert json.loads(failed.stdout)["prefixes"]
    assert "product 25.0%" in failed.stderr
    assert "dashboard" not in failed.stderr


def test_stats_prometheus(cli: Cli, seeded: Cache) -> None:
    result = cli("stats", "--format", "prometheus")
    assert result.exit_code == 0
    text = result.stdout
    assert 'cachectl_hits_total{namespace="clitest",prefix="dashboard"} 30' in text
    assert 'cachectl_keys{namespace="clitest",prefix="product"} 5' in text
    assert "# TYPE cachectl_redis_keyspace_hits_total counter" in text
    sample = re.compile(r'^[a-z_]+(\{([a-z_]+="([^"\\]|\\.)*",?)*\})? -?[0-9.e+-]+$')
    for line in text.splitlines():
        assert line.startswith("# ") or sample.match(line), line


def test_stats_output_file_is_written_whole(cli: Cli, seeded: Cache, tmp_path: Path) -> None:
    target = tmp_path / "cachectl.prom"
    result = cli("stats", "--format", "prometheus", "--output", str(target))
    assert result.exit_code == 0 and result.stdout == ""
    assert "cachectl_hits_total" in target.read_text()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".cachectl.prom")] == []


def test_stats_output_through_a_symlink_keeps_the_link(
    cli: Cli, seeded: Cache, tmp_path: Path
) -> None:
    # A rename would have replaced the link (think --output /dev/stdout) with a file.
    real = tmp_path / "real.prom"
    link = tmp_path / "link.prom"
    link.symlink_to(real)
    assert cli("stats", "--format", "prometheus", "--output", str(link)).exit_code == 0
    assert link.is_symlink()
    assert "cachectl_hits_total" in real.read_text()


def test_stats_output_that_cannot_be_written_is_status_1(cli: Cli, tmp_path: Path) -> None:
    result = cli("stats", "--format", "json", "--output", str(tmp_path))
    assert result.exit_code == 1
    assert "cannot write" in result.stderr


def test_stats_watch_refreshes_until_interrupted(
    cli: Cli, seeded: Cache, monkeypatch: pytest.MonkeyPatch
) -> None:
    sleeps: list[float] = []

    def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        if len(sleeps) == 2:
            raise KeyboardInterrupt

    monkeypatch.setattr(time, "sleep", sleep)
    result = cli("stats", "--watch", "0.5")
    assert result.exit_code == 0
    assert sleeps == [0.5, 0.5]
    assert "dashboard" in result.stdout


def test_stats_usage_errors(cli: Cli) -> None:
    assert cli("stats", "--json", "--format", "prometheus").exit_code == 2
    assert cli("stats", "--watch", "1", "--format", "prometheus").exit_code == 2
    assert cli("stats", "--output", "x").exit_code == 2
    assert cli("stats", "--min-hit-ratio", "2").exit_code == 2


def test_stats_on_an_empty_namespace(cli: Cli) -> None:
    # Since issue 16 an empty namespace is status 5 (it was 0), unless --allow-empty; the
    # report is printed all the same.
    result = cli("stats", "--json")
    assert result.exit_code == 5
    assert result.json()["prefixes"] == []
    assert cli("stats", "--allow-empty").exit_code == 0


# -- keys -------------------------------------------------------------------------------------


def test_keys_lists_type_ttl_size_codec(cli: Cli, seeded: Cache, raw_redis: redis.Redis) -> None:
    raw_redis.hset(full("session:h"), mapping={"a": "1"})
    raw_redis.set(full("legacy:gz"), gzip.compress(b"{}"))
    seeded.set("product:big", ["same text"] * 1000)
    doc = cli("keys", "--json", "--limit", "1000").json()
    rows = {row["key"]: row for row in doc["keys"]}
    assert len(rows) == 28 and doc["truncated"] is False
    assert rows["product:big"]["codec"] == "msgpack+lz4"
    assert rows["product:1"]["codec"] == "msgpack"
    assert rows["legacy:gz"]["codec"] == "gzip"
    assert rows["session:h"]["type"] == "hash" and rows["session:h"]["codec"] == "-"
    assert 590_000 < rows["dashboard:0"]["ttl_ms"] <= 600_000
    assert rows["product:0"]["ttl_ms"] is None
    assert all(row["memory"] > 0 for row in rows.values())


def test_keys_selections(cli: Cli, seeded: Cache) -> None:
    def names(*args: str) -> set[str]:
        return {row["key"] for row in cli("keys", "--json", *args).json()["keys"]}

    assert names("--prefix", "product") == {f"product:{i}" for i in range(5)}
    assert names("--pattern", "dashboard:1?") == {f"dashboard:{i}" for i in range(10, 20)}
    assert names("--tag", "catalog") == {f"product:{i}" for i in range(5)}
    assert names("--tag", "nothing") == set()


def test_keys_limit_and_sort(cli: Cli, seeded: Cache) -> None:
    doc = cli("keys", "--json", "--limit", "3").json()
    assert doc["count"] == 3 and doc["truncated"] is True
    by_size = cli("keys", "--json", "--prefix", "dashboard", "--sort", "memory").json()["keys"]
    sizes = [row["memory"] for row in by_size]
    assert sizes == sorted(sizes, reverse=True)
    by_ttl = cli("keys", "--json", "--sort", "ttl", "--limit", "100").json()["keys"]
    assert by_ttl[-1]["ttl_ms"] is None and by_ttl[0]["ttl_ms"] is not None
    by_name = [row["key"] for row in cli("keys", "--json").json()["keys"]]
    assert by_name == sorted(by_name)


def test_keys_top(cli: Cli, seeded: Cache) -> None:
    doc = cli("keys", "--json", "--top", "3").json()
    everything = cli("keys", "--json", "--limit", "1000").json()["keys"]
    biggest = sorted((row["memory"] for row in everything), reverse=True)[:3]
    assert [row["memory"] for row in doc["keys"]] == biggest
    assert all(row["key"].startswith("dashboard:1") for row in doc["keys"])
    assert doc["count"] == 3 and doc["top"] == 3
    table = cli("keys", "--top", "2").stdout
    assert "the 2 biggest keys" in table


def test_keys_table(cli: Cli, seeded: Cache) -> None:
    out = cli("keys", "--prefix", "product").stdout
    assert "product:3" in out and "msgpack" in out and "5 keys" in out


def test_keys_one_selector_only(cli: Cli) -> None:
    result = cli("keys", "--prefix", "a", "--tag", "b")
    assert result.exit_code == 2
    assert result.stderr.strip() == "cachectl: error: choose one of --prefix, --tag"


# -- inspect ----------------------------------------------------------------------------------


def test_inspect_cachectl_value(cli: Cli, seeded: Cache) -> None:
    seeded.set("product:1", {"sku": 1, "price": 9.5}, ttl=30, tags=["catalog", "sale"])
    doc = cli("inspect", "product:1", "--json").json()
    assert doc["value"] == {"sku": 1, "price": 9.5}
    assert doc["encoding"]["format"] == "cachectl"
    assert doc["encoding"]["serializer"] == "msgpack"
    assert doc["tags"] == ["catalog", "sale"]
    assert 0 < doc["ttl_ms"] <= 30_000
    table = cli("inspect", "product:1").stdout
    assert "'price': 9.5" in table and "catalog, sale" in table and "msgpack" in table


def test_inspect_compressed_value_shows_ratio(cli: Cli, cli_cache: Cache) -> None:
    cli_cache.set("report", {"rows": ["same text"] * 1000})
    doc = cli("inspect", "report", "--json", "--max-bytes", "0").json()
    assert doc["encoding"]["compression"] == "lz4"
    assert doc["encoding"]["ratio"] > 10
    # No byte budget with 0; a list still shows 200 items at most, the rest counted.
    assert doc["value"]["rows"][199] == "same text"
    assert doc["value"]["rows"][200] == "... 800 more items" and doc["clipped_items"] == 800
    assert "ratio" in cli("inspect", "report").stdout


def test_inspect_foreign_gzip_json(cli: Cli, raw_redis: redis.Redis) -> None:
    raw_redis.set(full("legacy"), gzip.compress(json.dumps({"a": [1, 2]}).encode()))
    doc = cli("inspect", "legacy", "--json").json()
    assert doc["value"] == {"a": [1, 2]}
    assert doc["encoding"]["format"] == "foreign"
    assert doc["encoding"]["compression"] == "gzip"
    assert doc["encoding"]["serializer"] == "json"
    assert "not cachectl's" in cli("inspect", "legacy").stdout


@pytest.mark.parametrize(
    ("kind", "plant", "length", "first"),
    [
        ("hash", lambda c, k: c.hset(k, mapping={f"f{i}": i for i in range(30)}), 30, None),
        ("list", lambda c, k: c.rpush(k, *range(50)), 50, "0"),
        ("set", lambda c, k: c.sadd(k, *range(25)), 25, None),
        ("zset", lambda c, k: c.zadd(k, {f"m{i}": i for i in range(40)}), 40, ["m0", 0.0]),
        ("stream", lambda c, k: [c.xadd(k, {"n": i}) for i in range(30)], 30, None),
    ],
)
def test_inspect_collections_are_bounded(
    cli: Cli,
    raw_redis: redis.Redis,
    kind: str,
    plant: Callable[..., object],
    length: int,
    first: object,
) -> None:
    plant(raw_redis, full("coll"))
    doc = cli("inspect", "coll", "--items", "7", "--json").json()
    assert doc["type"] == kind
    assert doc["length"] == length
    assert len(doc["value"]) == 7
    if first is not None:
        assert doc["value"][0] == first
    assert f"{length} (first 7 shown)" in cli("inspect", "coll", "--items", "7").stdout


def test_inspect_corrupt_value(cli: Cli, raw_redis: redis.Redis) -> None:
    raw_redis.set(full("bad"), b"\xc1\x01\x02not zlib at all")
    result = cli("inspect", "bad")
    assert result.exit_code == 1
    assert "corrupt value" in result.stdout
    assert "00000000  c1 01 02 6e 6f 74" in result.stdout
    assert result.stderr.startswith("cachectl: error: bad: corrupt zlib payload")
    doc = cli("inspect", "bad", "--json")
    assert doc.exit_code == 1
    assert doc.json()["head_hex"].startswith("c10102")


def test_inspect_raw(cli: Cli, raw_redis: redis.Redis) -> None:
    raw_redis.set(full("r"), b"abc\x00\xff")
    result = cli("inspect", "r", "--raw")
    assert "61 62 63 00 ff" in result.stdout and "|abc..|" in result.stdout
    assert cli("inspect", "r", "--raw", "--json").json()["raw_hex"] == "616263" + "00ff"


def test_inspect_missing_key(cli: Cli, seeded: Cache) -> None:
    # seeded: in a namespace that holds nothing, a missing key is status 5 (issue 16).
    result = cli("inspect", "nope")
    assert result.exit_code == 1
    assert result.stderr == "cachectl: error: key 'nope' not found in namespace 'clitest'\n"


# -- flush ------------------------------------------------------------------------------------


def test_flush_prefix(cli: Cli, seeded: Cache, raw_redis: redis.Redis) -> None:
    raw_redis.set(full("dashboards"), b"not below the prefix")
    result = cli("flush", "--prefix", "dashboard", "--yes")
    assert result.exit_code == 0
    assert "Deleted 20 keys" in result.stdout
    assert keys_in(raw_redis, "dashboard*") == {full("dashboards")}
    assert len(keys_in(raw_redis, "product:*")) == 5


def test_flush_dry_run_deletes_nothing(cli: Cli, seeded: Cache, raw_redis: redis.Redis) -> None:
    result = cli("flush", "--prefix", "dashboard", "--dry-run")
    assert result.exit_code == 0
    assert "Would delete 20 keys" in result.stdout and "Nothing was deleted" in result.stdout
    doc = cli("flush", "--tag", "catalog", "--dry-run", "--json").json()
    assert doc["count"] == 5 and doc["dry_run"] is True
    assert set(doc["sample"]) == {f"product:{i}" for i in range(5)}
    assert len(keys_in(raw_redis)) == 25


def test_flush_tag_pattern_and_keys(cli: Cli, seeded: Cache, raw_redis: redis.Redis) -> None:
    assert cli("flush", "--tag", "catalog", "--yes", "--json").json()["removed"] == 5
    assert keys_in(raw_redis, "product:*") == set()
    assert not raw_redis.exists(NS + b"#tag:{catalog}")
    doc = cli("flush", "--pattern", "dashboard:1?", "-y", "--json").json()
    assert doc["removed"] == 10
    doc = cli("flush", "--key", "dashboard:1", "--key", "dashboard:2", "--key", "x", "-y", "--json")
    assert doc.json()["removed"] == 2
    assert len(keys_in(raw_redis)) == 8


def test_flush_all_keeps_stats_and_other_namespaces(
    cli: Cli, seeded: Cache, raw_redis: redis.Redis
) -> None:
    raw_redis.set(b"other:dashboard:1", b"x")
    raw_redis.set(b"plain", b"x")
    result = cli("flush", "--all", "--yes", "--json")
    assert result.json()["removed"] == 26  # 25 entries and one tag set
    assert keys_in(raw_redis) == set()
    assert raw_redis.exists(NS + b"#stats")
    assert raw_redis.exists(b"other:dashboard:1") and raw_redis.exists(b"plain")


def test_flush_max_keys(cli: Cli, seeded: Cache, raw_redis: redis.Redis) -> None:
    result = cli("flush", "--prefix", "dashboard", "--yes", "--max-keys", "19")
    assert result.exit_code == 1
    assert "20 keys match" in result.stderr and "nothing was deleted" in result.stderr
    assert len(keys_in(raw_redis, "dashboard:*")) == 20
    assert cli("flush", "--prefix", "dashboard", "--yes", "--max-keys", "20").exit_code == 0


def test_flush_rate_limits(
    cli: Cli, seeded: Cache, raw_redis: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    from cachectl.ops import flush as ops

    clock = [0.0]
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        clock[0] += seconds

    monkeypatch.setattr(ops.time, "monotonic", lambda: clock[0])
    monkeypatch.setattr(ops.time, "sleep", sleep)
    doc = cli("flush", "--prefix", "dashboard", "--yes", "--rate", "50", "--json").json()
    assert doc["removed"] == 20
    # Batches of about a tenth of a second's worth (SCAN COUNT 5), then a wait so that the
    # clock never runs ahead of 50 keys a second.
    assert len(slept) >= 3
    assert clock[0] == pytest.approx(20 / 50)


def test_flush_asks_on_a_terminal(
    cli: Cli, seeded: Cache, raw_redis: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("cachectl.cli.common.stdin_is_terminal", lambda: True)
    declined = cli("flush", "--prefix", "product", input="n\n")
    assert declined.exit_code == 4
    assert "Delete 5 keys (prefix 'product' in namespace 'clitest')" in declined.stderr
    assert len(keys_in(raw_redis, "product:*")) == 5
    accepted = cli("flush", "--prefix", "product", input="y\n")
    assert accepted.exit_code == 0 and "Deleted 5 keys" in accepted.stdout
    assert keys_in(raw_redis, "product:*") == set()


def test_flush_refuses_without_yes_when_not_a_terminal(cli: Cli, seeded: Cache) -> None:
    result = cli("flush", "--prefix", "product")
    assert result.exit_code == 2
    assert "refusing to flush without --yes" in result.stderr


def test_flush_nothing_matches(cli: Cli, seeded: Cache) -> None:
    # seeded: in a namespace that holds nothing, this is status 5 (issue 16).
    result = cli("flush", "--prefix", "none", "--yes")
    assert result.exit_code == 0 and "Nothing to delete" in result.stdout


def test_flush_needs_exactly_one_selection(cli: Cli) -> None:
    assert cli("flush", "--yes").exit_code == 2
    assert cli("flush", "--prefix", "a", "--all", "--yes").exit_code == 2
    assert cli("flush", "--prefix", ":", "--yes").exit_code == 2


# -- latency ----------------------------------------------------------------------------------


def test_latency(cli: Cli, raw_redis: redis.Redis) -> None:
    doc = cli("latency", "--samples", "20", "--interval", "0", "--json").json()
    probes = {probe["probe"]: probe for probe in doc["probes"]}
    assert set(probes) == {"PING", "GET", "cache set+get (1 KB)"}
    for probe in probes.values():
        assert probe["samples"] == 20
        assert 0 < probe["min_us"] <= probe["p50_us"] <= probe["p90_us"] <= probe["p99_us"]
        assert probe["p99_us"] <= probe["max_us"]
    assert keys_in(raw_redis) == set()  # the canary is removed
    table = cli("latency", "--samples", "5").stdout
    assert "PING" in table and "p99" in table


def test_latency_thresholds(cli: Cli) -> None:
    assert cli("latency", "--samples", "5", "--max-p50", "10000").exit_code == 0
    result = cli("latency", "--samples", "5", "--max-p99", "0.000001")
    assert result.exit_code == 1
    assert "PING p99" in result.stderr and "> 1e-06 ms" in result.stderr
