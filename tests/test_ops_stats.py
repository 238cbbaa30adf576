"""Stats collection beyond the command line: extrapolated counts and exposition escaping."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import redis

from cachectl.config import cli_config
from cachectl.ops.connect import connection
from cachectl.ops.prometheus import render
from cachectl.ops.stats import PrefixRow, collect
from cachectl.stats import PrefixStats
from tests.plugins.cli import CLI_NAMESPACE, CliResult

NS = CLI_NAMESPACE.encode() + b":"


def test_counts_are_extrapolated_past_max_scan(redis_url: str, raw_redis: redis.Redis) -> None:
    pipe = raw_redis.pipeline(transaction=False)
    for start in range(0, 30_000, 5_000):
        pipe.mset({NS + b"big:%d" % i: b"v" for i in range(start, start + 5_000)})
    pipe.mset({NS + b"small:%d" % i: b"v" for i in range(100)})
    pipe.execute()
    config = cli_config(redis_url, CLI_NAMESPACE, environ={})
    with connection(config) as conn:
        exact = collect(conn)
        partial = collect(conn, max_scan=10_000)
    assert exact.keys_exact is True
    assert {r.prefix: r.keys for r in exact.prefixes} == {"big": 30_000, "small": 100}
    assert partial.keys_exact is False
    estimate = {r.prefix: r.keys for r in partial.prefixes}["big"]
    assert 15_000 < estimate < 45_000
    assert all(r.memory for r in partial.prefixes if r.prefix == "big")


def test_exposition_escapes_labels(redis_url: str) -> None:
    config = cli_config(redis_url, CLI_NAMESPACE, environ={})
    with connection(config) as conn:
        report = collect(conn)
    odd = 'we"ird\\pre\nfix'
    row = PrefixRow(odd, PrefixStats(odd, hits=3, misses=1), 4, 100, 4)
    report = replace(report, prefixes=[row], total=row.stats)
    text = render(report)
    assert 'cachectl_hits_total{namespace="clitest",prefix="we\\"ird\\\\pre\\nfix"} 3' in text
    assert 'cachectl_hit_ratio{namespace="clitest",prefix="we\\"ird\\\\pre\\nfix"} 0.75' in text
    assert "cachectl_keys_exact" in text and text.endswith("\n")


# -- Prometheus: a real histogram, bounded labels, checked with prometheus_client's parser ------


def test_prometheus_output_parses_with_a_histogram_and_bounded_labels(
    redis_url: str, raw_redis: redis.Redis, run_script: Callable[..., CliResult]
) -> None:
    from prometheus_client.parser import text_string_to_metric_families

    from cachectl import Cache
    from cachectl.ops.prometheus import MAX_LABELS
    from cachectl.stats import OTHER

    with Cache(redis_url, namespace=CLI_NAMESPACE, socket_timeout=2.0) as cache:
        cache.set("users:1", "x")
        for _ in range(40):
            cache.get("users:1")
        cache.get("users:2")
        for i in range(MAX_LABELS + 20):  # more published prefixes than labels
            cache.get(f"p{i}:k")
        cache.publish_stats()
        recorded = cache.stats()["users"]
    # Foreign first segments in the keyspace never become labels.
    raw_redis.mset({NS + name: b"v" for name in (b"key with spaces", b"a*b", b"x:1", b"y:2")})

    done = run_script(
        "--url", redis_url, "--namespace", CLI_NAMESPACE, "stats", "--format", "prometheus"
    )
    assert done.exit_code == 0, done.stderr
    families = {f.name: f for f in text_string_to_metric_families(done.stdout)}

    latency = families["cachectl_latency_seconds"]
    assert latency.type == "histogram"
    users = [s for s in latency.samples if s.labels.get("prefix") == "users"]
    buckets = [(s.labels["le"], s.value) for s in users if s.name.endswith("_bucket")]
    assert buckets[-1] == ("+Inf", recorded.calls)
    counts = [value for _, value in buckets]
    assert counts == sorted(counts)
    bounds = [float(le) for le, _ in buckets[:-1]]
    assert bounds == sorted(bounds) and bounds[0] == 16e-6
    (count,) = [s.value for s in users if s.name.endswith("_count")]
    (total,) = [s.value for s in users if s.name.endswith("_sum")]
    assert count == recorded.calls == 41
    assert 0 < total < 41 * 2.0

    hits = families["cachectl_hits"]
    prefixes = {s.labels["prefix"] for s in hits.samples}
    assert len(prefixes) == MAX_LABELS + 1
    assert "users" in prefixes and OTHER in prefixes
    assert not prefixes & {"key with spaces", "a*b", "x", "y"}
    for family in families.values():
        for sample in family.samples:
            assert sample.labels.get("prefix") in prefixes | {None}
    keys = {s.labels["prefix"]: s.value for s in families["cachectl_keys"].samples}
    assert keys["users"] == 1
    assert keys[OTHER] == 4  # the foreign keys, added up
    assert {s.labels["prefix"]: s.value for s in hits.samples}["users"] == 40
    skipped = families["cachectl_stats_skipped_fields"].samples[0]
    assert skipped.value == 0


def test_key_counts_stay_exact_and_rows_bounded_with_hostile_names(
    redis_url: str, raw_redis: redis.Redis
) -> None:
    from cachectl.stats import MAX_PREFIXES, OTHER

    names = [b"x%d" % i for i in range(MAX_PREFIXES + 300)]  # each key its own first segment
    names += [b"nl\n" + NS + b"fake:1", b"nl:2\n", b"users:1", b"users:2", b"y" * 5000]
    raw_redis.mset({NS + name: b"v" for name in names})
    config = cli_config(redis_url, CLI_NAMESPACE, environ={})
    with connection(config) as conn:
        report = collect(conn)
    counts = {row.prefix: row.keys for row in report.prefixes}
    assert sum(counts.values()) == len(names)
    assert len(counts) <= MAX_PREFIXES + 1
    assert counts[OTHER] >= 300
    assert "fake" not in counts
    assert sum(len(row.prefix.encode()) > 200 for row in report.prefixes) == 0


def test_memory_is_sampled_from_a_bounded_number_of_keys(
    redis_url: str, raw_redis: redis.Redis
) -> None:
    from cachectl.ops.stats import SAMPLE
    from cachectl.stats import MAX_PREFIXES, OTHER

    raw_redis.mset({NS + b"k%d" % i: b"v" for i in range(MAX_PREFIXES + 2_000)})
    config = cli_config(redis_url, CLI_NAMESPACE, environ={})
    with connection(config) as conn:
        report = collect(conn)
    rows = {row.prefix: row for row in report.prefixes}
    assert rows[OTHER].keys >= 2_000
    assert all(row.sampled <= SAMPLE for row in report.prefixes)
