"""The demo's headline: how much faster the cached endpoints answer, measured honestly.

Latency is measured one request at a time, so that no figure is queueing in the application;
a cold figure counts only when its response said X-Cache: MISS (the cache really was cold);
hits are read from each response's X-Cache header, never from published stats, which lag.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import httpx

from cachectl.warm import LatencyHistogram, WarmReport
from cachectl.warm.verdict import HIT, MISS, cache_verdict

#: The endpoints whose speedup the demo leads with: aggregations over a year of orders.
DASHBOARD = ("/api/dashboard/summary", "/api/dashboard/revenue")
SAMPLES = 20  # sequential cached requests per dashboard endpoint: enough for a p95


@dataclass(frozen=True, slots=True)
class EndpointSpeed:
    """One cached endpoint: its cold latency, and its cached latency over `samples` requests."""

    path: str
    cold_ms: float | None  # None when the first request was not a miss: no cold figure
    cold_cache: str  # the first response's X-Cache verdict
    warm_p50_ms: float | None
    warm_p95_ms: float | None
    samples: int
    hits: int  # of the samples, responses saying X-Cache: HIT

    @property
    def speedup(self) -> float | None:
        """Cold over the cached median."""
        if self.cold_ms is None or not self.warm_p50_ms:
            return None
        return round(self.cold_ms / self.warm_p50_ms, 1)

    @property
    def speedup_p95(self) -> float | None:
        """Cold over the cached p95: the speedup even for a slow cached answer."""
        if self.cold_ms is None or not self.warm_p95_ms:
            return None
        return round(self.cold_ms / self.warm_p95_ms, 1)


@dataclass(frozen=True, slots=True)
class DemoSummary:
    """What the demo found, headline first."""

    dashboard: tuple[EndpointSpeed, ...]
    endpoints: int  # warmed
    cold_misses: int  # of those, first responses that were X-Cache: MISS (cold for real)
    measured: int  # requests of the measured pass
    measured_hits: int  # of those, X-Cache: HIT
    median_speedup: float | None  # over every endpoint with a cold miss and a cached answer
    concurrency: int  # requests in flight while measuring (1: no queueing in the figures)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready, speedups included."""
        rows = [
            {**asdict(row), "speedup": row.speedup, "speedup_p95": row.speedup_p95}
            for row in self.dashboard
        ]
        return {**asdict(self), "dashboard": rows}


def _milliseconds(value: float | None) -> float | None:
    return None if value is None else round(value * 1000, 3)


def measure_cached(
    client: httpx.Client, path: str, samples: int = SAMPLES
) -> tuple[LatencyHistogram, int]:
    """`samples` requests to path one after the other: their latencies, and how many hit."""
    histogram = LatencyHistogram()
    hits = 0
    for _ in range(samples):
        started = time.perf_counter()
        response = client.get(path)
        histogram.record(time.perf_counter() - started)
        response.raise_for_status()
        hits += cache_verdict(response.headers) == HIT
    return histogram, hits


def summarize(
    report: WarmReport, client: httpx.Client, paths: Sequence[str] = DASHBOARD
) -> DemoSummary:
    """The headline figures from a warm run (one request at a time) and sequential samples."""
    base = (report.base_url or "").rstrip("/")
    by_path = {row.url[len(base) :]: row for row in report.endpoints}
    rows = []
    for path in paths:
        first = by_path.get(path)
        histogram, hits = measure_cached(client, path)
        cold = first.cold_ms if first is not None and first.cold_cache == MISS else None
        rows.append(
            EndpointSpeed(
                path=path,
                cold_ms=cold,
                cold_cache=first.cold_cache if first is not None else "unknown",
                warm_p50_ms=_milliseconds(histogram.percentile(50)),
                warm_p95_ms=_milliseconds(histogram.percentile(95)),
                samples=histogram.count,
                hits=hits,
            )
        )
    speedups = [
        row.speedup
        for row in report.endpoints
        if row.cold_cache == MISS and row.speedup is not None
    ]
    summary = report.summary
    return DemoSummary(
        dashboard=tuple(rows),
        endpoints=summary.targets,
        cold_misses=sum(1 for row in report.endpoints if row.cold_cache == MISS),
        measured=summary.measured_requests,
        measured_hits=summary.hits,
        median_speedup=round(statistics.median(speedups), 1) if speedups else None,
        concurrency=summary.concurrency,
    )
