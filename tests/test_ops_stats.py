"""Stats collection beyond the command line: extrapolated counts and exposition escaping."""

from __future__ import annotations

from dataclasses import replace

import redis

from cachectl.config import cli_config
from cachectl.ops.connect import connection
from cachectl.ops.prometheus import render
from cachectl.ops.stats import PrefixRow, collect
from cachectl.stats import PrefixStats
from tests.conftest import CLI_NAMESPACE

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
