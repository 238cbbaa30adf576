"""A stats report in the Prometheus text exposition format (node-exporter textfile collector).

Written with prometheus_client, so names, label escaping and the histogram layout are the
client library's. Label values are made safe first (cachectl.ops.display): a control character
or a byte that is not UTF-8 becomes a visible escape such as '\\x1b' (which the format writes
as '\\\\x1b'), so the text never drives a terminal it is shown on. Label values are bounded: a
prefix is a label only when the application published figures for it (a first segment that
only the keyspace holds is not), and at most MAX_LABELS of those, the busiest; the keys, memory
and figures of every other prefix are added up under the prefix label OTHER. Latency is a
histogram whose bucket bounds are powers of two microseconds (16 µs to about 16.8 s), edges of
the library's own buckets, so every bucket count is exact; its _sum is estimated from the
library's bucket midpoints (within 3%).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

from cachectl.ops.display import safe
from cachectl.stats import OTHER, CacheStats, PrefixStats, bucket_bounds

if TYPE_CHECKING:
    from cachectl.ops.stats import StatsReport

#: Prefix label values at most, besides OTHER.
MAX_LABELS = 100
#: Upper bounds of the latency histogram's buckets, in microseconds.
BOUNDS_MICROS = tuple(2**k for k in range(4, 25))

_PREFIX_COUNTERS = (
    ("hits", "Cache hits published by the processes using the cache."),
    ("misses", "Cache misses published by the processes using the cache."),
    ("sets", "Cache writes published by the processes using the cache."),
    ("errors", "Failed or unreadable cache calls published by the processes using the cache."),
    ("fallback", "Calls served by the in-memory fallback while Redis was unavailable."),
    ("near", "Reads answered by a process's near cache (counted in hits or misses too)."),
    ("near_invalidations", "Invalidations the near caches received for keys of the prefix."),
    ("near_evictions", "Entries of the prefix the near caches evicted to stay in bounds."),
)
_NEAR_GAUGES = (
    ("entries", "Entries the near caches of the processes publishing lately hold."),
    ("bytes", "Bytes those near caches hold (keys and decompressed payloads)."),
    ("flushes", "Times those near caches were emptied since their processes started."),
)
_SERVER_GAUGES = (
    ("uptime_seconds", "uptime_seconds", "gauge", "Seconds since the Redis server started."),
    ("used_memory_bytes", "used_memory", "gauge", "Memory used by Redis."),
    ("peak_memory_bytes", "peak_memory", "gauge", "Peak memory used by Redis."),
    ("max_memory_bytes", "max_memory", "gauge", "Redis maxmemory (0: no limit)."),
    ("evicted_keys", "evicted_keys", "counter", "Keys evicted by Redis."),
    ("keyspace_hits", "keyspace_hits", "counter", "Successful key lookups in Redis."),
    ("keyspace_misses", "keyspace_misses", "counter", "Failed key lookups in Redis."),
    ("connected_clients", "connected_clients", "gauge", "Client connections to Redis."),
    ("keys", "keys", "gauge", "Keys in the database."),
)


@dataclass(frozen=True, slots=True)
class Series:
    """One prefix label's figures."""

    prefix: str
    stats: PrefixStats
    keys: int
    memory: int | None


def series(report: StatsReport, max_labels: int = MAX_LABELS) -> list[Series]:
    """The report's prefixes as bounded label values: published ones, busiest first, then OTHER."""
    published = [
        row
        for row in report.prefixes
        if row.prefix != OTHER and (row.stats.calls or _counted(row.stats))
    ]
    published.sort(key=lambda row: (-_activity(row.stats), row.prefix))
    kept = published[:max_labels]
    names = {row.prefix for row in kept}
    rest = [row for row in report.prefixes if row.prefix not in names]
    out = [Series(row.prefix, row.stats, row.keys, row.memory) for row in kept]
    out.sort(key=lambda s: s.prefix)
    if rest:
        merged = CacheStats({row.prefix: row.stats for row in rest}).total
        memories = [row.memory for row in rest if row.memory is not None]
        out.append(
            Series(
                OTHER,
                merged,
                sum(row.keys for row in rest),
                sum(memories) if memories else None,
            )
        )
    return out


def _counted(stats: PrefixStats) -> int:
    return (
        stats.hits
        + stats.misses
        + stats.sets
        + stats.errors
        + stats.fallback
        + stats.near_invalidations
        + stats.near_evictions
    )


def _activity(stats: PrefixStats) -> int:
    return _counted(stats) + stats.calls


def histogram(latency: Mapping[int, int]) -> tuple[list[tuple[str, float]], float]:
    """Cumulative (le, count) pairs in seconds, +Inf last, and the estimated sum in seconds."""
    counts = [0] * len(BOUNDS_MICROS)
    total = 0
    micros = 0.0
    for index, count in latency.items():
        low, high = bucket_bounds(index)
        total += count
        # A recorded value v stands for a duration in [v, v + 1) µs.
        micros += count * (low + high + 1) / 2
        for i, bound in enumerate(BOUNDS_MICROS):
            if high < bound:
                counts[i] += count
                break
    buckets: list[tuple[str, float]] = []
    running = 0
    for bound, count in zip(BOUNDS_MICROS, counts, strict=True):
        running += count
        buckets.append((_seconds(bound), running))
    buckets.append(("+Inf", total))
    return buckets, micros / 1e6


def _seconds(micros: int) -> str:
    return repr(micros / 1e6)


class _Collector(Collector):
    """Hands prometheus_client the report's metric families."""

    def __init__(self, report: StatsReport, rows: Sequence[Series]) -> None:
        self.report = report
        self.rows = rows

    def collect(self) -> Iterator[Metric]:
        ns = safe_label(self.report.namespace)
        rows = [replace(row, prefix=safe_label(row.prefix)) for row in self.rows]
        labels = ["namespace", "prefix"]
        for counter, help_text in _PREFIX_COUNTERS:
            family = CounterMetricFamily(f"cachectl_{counter}", help_text, labels=labels)
            for row in rows:
                family.add_metric([ns, row.prefix], getattr(row.stats, counter))
            yield family
        ratio = GaugeMetricFamily(
            "cachectl_hit_ratio", "hits / (hits + misses) since the counters began.", labels=labels
        )
        for row in rows:
            if row.stats.hit_ratio is not None:
                ratio.add_metric([ns, row.prefix], row.stats.hit_ratio)
        yield ratio
        latency = HistogramMetricFamily(
            "cachectl_latency_seconds",
            "Cache call latency as the library measured it (sum estimated from its buckets).",
            labels=labels,
        )
        for row in rows:
            if row.stats.calls:
                buckets, total = histogram(row.stats.latency)
                latency.add_metric([ns, row.prefix], buckets, total)
        yield latency
        keys = GaugeMetricFamily(
            "cachectl_keys",
            "Keys under the prefix (extrapolated when cachectl_keys_exact is 0).",
            labels=labels,
        )
        memory = GaugeMetricFamily(
            "cachectl_memory_bytes",
            "Memory of the prefix's keys, estimated from a sample of MEMORY USAGE.",
            labels=labels,
        )
        for row in rows:
            keys.add_metric([ns, row.prefix], row.keys)
            if row.memory is not None:
                memory.add_metric([ns, row.prefix], row.memory)
        yield keys
        yield memory
        exact = GaugeMetricFamily(
            "cachectl_keys_exact",
            "1 when key counts come from a complete scan, 0 when extrapolated.",
            labels=["namespace"],
        )
        exact.add_metric([ns], int(self.report.keys_exact))
        yield exact
        skipped = GaugeMetricFamily(
            "cachectl_stats_skipped_fields",
            "Fields of the published stats hash that were not usable (corrupt or foreign).",
            labels=["namespace"],
        )
        skipped.add_metric([ns], self.report.skipped_fields)
        yield skipped
        near = self.report.near
        if near is not None:
            caches = GaugeMetricFamily(
                "cachectl_near_caches",
                "Near caches of the processes publishing lately, by state: on (serving), "
                "starting (tracking being established) or off (tracking refused).",
                labels=["namespace", "state"],
            )
            for state in ("on", "starting", "off"):
                caches.add_metric([ns, state], getattr(near, state))
            yield caches
            for figure, help_text in _NEAR_GAUGES:
                gauge = GaugeMetricFamily(
                    f"cachectl_near_{figure}", help_text, labels=["namespace"]
                )
                gauge.add_metric([ns], getattr(near, figure))
                yield gauge
        for metric, attribute, kind, help_text in _SERVER_GAUGES:
            make = CounterMetricFamily if kind == "counter" else GaugeMetricFamily
            per_node = make(f"cachectl_redis_{metric}", help_text, labels=["node"])
            for server in self.report.servers:
                if server.given(attribute):  # no sample rather than a zero INFO did not say
                    per_node.add_metric([safe_label(server.node)], getattr(server, attribute))
            yield per_node
        info = GaugeMetricFamily(
            "cachectl_redis_info",
            "Redis version and mode, as labels.",
            labels=["node", "version", "mode"],
        )
        for server in self.report.servers:
            values = [safe_label(server.node), safe_label(server.version), safe_label(server.mode)]
            info.add_metric(values, 1)
        yield info


def safe_label(value: str) -> str:
    """A label value made safe; a line break is left to the format's own '\\n' escape."""
    return safe(value, newlines=True)


def render(report: StatsReport, max_labels: int = MAX_LABELS) -> str:
    """The report as exposition text: per-prefix cache figures, then per-node Redis figures."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Collector(report, series(report, max_labels)))
    return generate_latest(registry).decode("utf-8")
