"""`cachectl latency` and the admin router's probe leave nothing behind: no keys, and no
`cachectl-latency` prefix among the application's published stats."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import redis

from cachectl.cache import Cache
from cachectl.ops.connect import for_cache
from cachectl.ops.latency import CANARY, measure
from cachectl.ops.stats import collect
from tests.plugins.cli import CLI_NAMESPACE, CliResult

pytestmark = pytest.mark.usefixtures("watchdog")

Run = Callable[..., CliResult]


def _prefixes(run_script: Run, url: str) -> list[str]:
    # --allow-empty: a namespace left with nothing at all is what these tests expect (without
    # it that is status 5 since issue 16).
    result = run_script(
        "--url", url, "--namespace", CLI_NAMESPACE, "stats", "--json", "--allow-empty"
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    return [row["prefix"] for row in result.json()["prefixes"]]


def _keys(raw: redis.Redis) -> list[bytes]:
    return sorted(set(raw.scan_iter(match=f"{CLI_NAMESPACE}*".encode(), count=1000)))


def test_cli_latency_leaves_no_keys_and_no_stats_row(
    raw_redis: redis.Redis, redis_url: str, run_script: Run
) -> None:
    result = run_script(
        "--url", redis_url, "--namespace", CLI_NAMESPACE, "latency", "--samples", "20",
        "--interval", "0", "--json",
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    assert {probe["probe"] for probe in result.json()["probes"]} >= {"PING", "GET"}
    assert _prefixes(run_script, redis_url) == []
    assert _keys(raw_redis) == []


def test_probe_with_an_applications_config_does_not_pollute_its_stats(
    raw_redis: redis.Redis, redis_url: str, run_script: Run
) -> None:
    # The admin router probes with the application's own config, stats on.
    with Cache(redis_url, namespace=CLI_NAMESPACE, stats_interval=0.01) as app:
        app.set("product:1", {"a": 1})
        app.get("product:1")
        app.publish_stats()
        report = measure(for_cache(app), samples=20, interval_ms=0)
        assert report.probes
        app.publish_stats()
    prefixes = _prefixes(run_script, redis_url)
    assert CANARY not in prefixes
    assert prefixes == ["product"]
    assert [key for key in _keys(raw_redis) if CANARY.encode() in key] == []
    listing = run_script("--url", redis_url, "--namespace", CLI_NAMESPACE, "keys", "--json")
    assert [row["key"] for row in listing.json()["keys"]] == ["product:1"]


def test_probe_on_the_embedded_store_leaves_no_trace() -> None:
    with Cache("memory://", namespace="app", stats_interval=0.01) as app:
        app.set("product:1", 1)
        app.get("product:1")
        app.publish_stats()
        conn = for_cache(app)
        report = measure(conn, samples=20, interval_ms=0)
        assert report.probes[0].name == "GET"
        app.publish_stats()
        stats = collect(for_cache(app))
        assert [row.prefix for row in stats.prefixes] == ["product"]
        assert not app.has(CANARY)
        left = [key for batch in conn.backend.scan(b"app:*", 1000) for key in batch]
        assert [key for key in left if CANARY.encode() in key] == []
        assert b"app:product:1" in left
