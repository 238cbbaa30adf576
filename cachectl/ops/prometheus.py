"""A stats report in the Prometheus text exposition format (node-exporter textfile collector)."""

from __future__ import annotations

from collections.abc import Iterable

from cachectl.ops.stats import StatsReport

_PREFIX_COUNTERS = (
    ("hits", "Cache hits published by the processes using the cache."),
    ("misses", "Cache misses published by the processes using the cache."),
    ("sets", "Cache writes published by the processes using the cache."),
    ("errors", "Failed or unreadable cache calls published by the processes using the cache."),
    ("fallback", "Calls served by the in-memory fallback while Redis was unavailable."),
)
_SERVER_GAUGES = (
    ("uptime_seconds", "uptime_seconds", "gauge", "Seconds since the Redis server started."),
    ("used_memory_bytes", "used_memory", "gauge", "Memory used by Redis."),
    ("peak_memory_bytes", "peak_memory", "gauge", "Peak memory used by Redis."),
    ("max_memory_bytes", "max_memory", "gauge", "Redis maxmemory (0: no limit)."),
    ("evicted_keys_total", "evicted_keys", "counter", "Keys evicted by Redis."),
    ("keyspace_hits_total", "keyspace_hits", "counter", "Successful key lookups in Redis."),
    ("keyspace_misses_total", "keyspace_misses", "counter", "Failed key lookups in Redis."),
    ("connected_clients", "connected_clients", "gauge", "Client connections to Redis."),
    ("keys", "keys", "gauge", "Keys in the database."),
)


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _labels(**labels: str) -> str:
    return "{" + ",".join(f'{name}="{_escape(value)}"' for name, value in labels.items()) + "}"


def _number(value: float) -> str:
    return repr(float(value)) if isinstance(value, float) else str(value)


def _family(
    name: str, kind: str, help_text: str, samples: Iterable[tuple[str, float]]
) -> list[str]:
    lines = [f"# HELP {name} {help_text}", f"# TYPE {name} {kind}"]
    lines += [f"{name}{labels} {_number(value)}" for labels, value in samples]
    return lines if len(lines) > 2 else []


def render(report: StatsReport) -> str:
    """The report as exposition text: per-prefix cache figures, then per-node Redis figures."""
    ns = report.namespace
    rows = report.prefixes
    lines: list[str] = []
    for counter, help_text in _PREFIX_COUNTERS:
        lines += _family(
            f"cachectl_{counter}_total",
            "counter",
            help_text,
            ((_labels(namespace=ns, prefix=r.prefix), getattr(r.stats, counter)) for r in rows),
        )
    lines += _family(
        "cachectl_hit_ratio",
        "gauge",
        "hits / (hits + misses) since the counters began.",
        (
            (_labels(namespace=ns, prefix=r.prefix), r.stats.hit_ratio)
            for r in rows
            if r.stats.hit_ratio is not None
        ),
    )
    latency = []
    for row in rows:
        for q in (50, 90, 99):
            ms = row.stats.percentile_ms(q)
            if ms is not None:
                labels = _labels(namespace=ns, prefix=row.prefix, quantile=str(q / 100))
                latency.append((labels, ms / 1000))
    lines += _family(
        "cachectl_latency_seconds",
        "gauge",
        "Cache call latency percentiles as the library measured them.",
        latency,
    )
    lines += _family(
        "cachectl_keys",
        "gauge",
        "Keys under the prefix (extrapolated when cachectl_keys_exact is 0).",
        ((_labels(namespace=ns, prefix=r.prefix), r.keys) for r in rows),
    )
    lines += _family(
        "cachectl_memory_bytes",
        "gauge",
        "Memory of the prefix's keys, estimated from a sample of MEMORY USAGE.",
        ((_labels(namespace=ns, prefix=r.prefix), r.memory) for r in rows if r.memory is not None),
    )
    lines += _family(
        "cachectl_keys_exact",
        "gauge",
        "1 when key counts come from a complete scan, 0 when extrapolated.",
        [(_labels(namespace=ns), int(report.keys_exact))],
    )
    for metric, attribute, kind, help_text in _SERVER_GAUGES:
        lines += _family(
            f"cachectl_redis_{metric}",
            kind,
            help_text,
            ((_labels(node=s.node), getattr(s, attribute)) for s in report.servers),
        )
    lines += _family(
        "cachectl_redis_info",
        "gauge",
        "Redis version and mode, as labels.",
        ((_labels(node=s.node, version=s.version, mode=s.mode), 1) for s in report.servers),
    )
    return "\n".join(lines) + "\n"
