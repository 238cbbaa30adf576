"""The outcome of a warm run as plain data: per-endpoint results, a summary, the thresholds.

Nothing here holds a header value: reports name headers, never show what they carry.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from cachectl.warm.targets import Target


@dataclass(frozen=True, slots=True)
class EndpointResult:
    """One target: its final status, cold and warm latency, cache verdict and errors."""

    method: str
    url: str
    source: str  # 'file:line' it came from
    variant: tuple[tuple[str, str], ...]  # the --variant (name, value) it was sent with
    status: int | None  # of the last pass; None when that request got no response
    cold_ms: float | None  # pass 1
    warm_ms: float | None  # median over the measured passes
    speedup: float | None  # cold_ms / warm_ms; None when pass 1 was already a hit, or it failed
    cache: str  # 'HIT', 'MISS' or 'unknown', from the last response's headers
    cold_cache: str  # the same for pass 1
    hits: int  # measured responses judged HIT
    failures: int  # requests that ended in a status other than 2xx or none, after retries
    retries: int
    error: str | None  # the last failure, e.g. 'HTTP 500' or 'ConnectError: ...'

    @property
    def failed(self) -> bool:
        """Whether any of its requests ended in a status other than 2xx or no response."""
        return self.failures > 0

    @property
    def label(self) -> str:
        """'GET http://host/path [Accept-Language=de]'."""
        return Target(self.method, self.url, self.source, self.variant).label


@dataclass(frozen=True, slots=True)
class Summary:
    """Totals; latencies are over the measured passes (pass 2 onwards) unless named cold."""

    targets: int
    passes: int
    requests: int  # all passes
    measured_requests: int
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None
    max_ms: float | None
    mean_ms: float | None
    cold_p50_ms: float | None
    cold_p95_ms: float | None
    status_counts: Mapping[str, int]  # '200', '500', ..., 'error' (no response); all passes
    hits: int  # measured responses judged HIT from their headers
    hit_ratio: float | None  # hits / measured_requests
    requests_per_s: float | None  # measured requests / measured_s
    duration_s: float  # the whole run from pass 1 on: requests_s, then settle_s
    failed_endpoints: int
    stats_delta: Mapping[str, int] | None  # stats_probe() after minus before the measured passes
    concurrency: int = 1  # requests in flight: latencies above 1 include queueing in the app
    already_cached: int = 0  # targets whose pass-1 ("cold") response was already a cache hit
    received_bytes: int = 0  # response bodies, as sent over the wire, all passes
    requests_s: float = 0.0  # seconds spent requesting, all passes
    measured_s: float = 0.0  # seconds spent requesting in the measured passes
    settle_s: float | None = None  # seconds waiting for published stats to settle; None: unread


@dataclass(frozen=True, slots=True)
class Threshold:
    """One pass/fail limit of the run and how the run measured against it."""

    name: str  # 'max_p95_ms' or 'min_hit_ratio'
    limit: float
    actual: float | None
    passed: bool
    message: str


@dataclass(frozen=True, slots=True)
class WarmReport:
    """Everything a warm run found; `passed` is what the exit status follows."""

    base_url: str | None
    header_names: tuple[str, ...]
    endpoints: tuple[EndpointResult, ...]
    summary: Summary
    thresholds: tuple[Threshold, ...] = field(default=())
    header_origins: tuple[str, ...] = ()  # where the --header values were allowed to go
    headers_withheld: Mapping[str, int] = field(default_factory=dict)  # origin -> targets
    interrupted: bool = False  # stopped by Ctrl-C: the figures cover the requests done

    @property
    def failures(self) -> list[str]:
        """Why the run failed, one line each; empty when it passed."""
        reasons = [t.message for t in self.thresholds if not t.passed]
        if self.interrupted:
            reasons.insert(0, "interrupted: the figures cover the requests done before Ctrl-C")
        failed = self.summary.failed_endpoints
        if failed:
            noun = "endpoint" if failed == 1 else "endpoints"
            reasons.insert(0, f"{failed} {noun} failed (a status other than 2xx, or no response)")
        return reasons

    @property
    def passed(self) -> bool:
        """No failed endpoint and every threshold met."""
        return not self.failures

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serializable dict: passed, failures, summary, thresholds, endpoints."""
        summary = self.summary
        return {
            "passed": self.passed,
            "failures": self.failures,
            "base_url": self.base_url,
            "header_names": list(self.header_names),
            "header_origins": list(self.header_origins),
            "headers_withheld": dict(self.headers_withheld),
            "interrupted": self.interrupted,
            "summary": {
                "targets": summary.targets,
                "passes": summary.passes,
                "requests": summary.requests,
                "measured_requests": summary.measured_requests,
                "p50_ms": summary.p50_ms,
                "p95_ms": summary.p95_ms,
                "p99_ms": summary.p99_ms,
                "max_ms": summary.max_ms,
                "mean_ms": summary.mean_ms,
                "cold_p50_ms": summary.cold_p50_ms,
                "cold_p95_ms": summary.cold_p95_ms,
                "status_counts": dict(summary.status_counts),
                "hits": summary.hits,
                "hit_ratio": summary.hit_ratio,
                "requests_per_s": summary.requests_per_s,
                "duration_s": summary.duration_s,
                "requests_s": summary.requests_s,
                "measured_s": summary.measured_s,
                "settle_s": summary.settle_s,
                "failed_endpoints": summary.failed_endpoints,
                "stats_delta": None if summary.stats_delta is None else dict(summary.stats_delta),
                "concurrency": summary.concurrency,
                "already_cached": summary.already_cached,
                "received_bytes": summary.received_bytes,
            },
            "thresholds": [
                {
                    "name": t.name,
                    "limit": t.limit,
                    "actual": t.actual,
                    "passed": t.passed,
                    "message": t.message,
                }
                for t in self.thresholds
            ],
            "endpoints": [
                {
                    "method": e.method,
                    "url": e.url,
                    "source": e.source,
                    "variant": dict(e.variant),
                    "status": e.status,
                    "cold_ms": e.cold_ms,
                    "warm_ms": e.warm_ms,
                    "speedup": e.speedup,
                    "cache": e.cache,
                    "cold_cache": e.cold_cache,
                    "hits": e.hits,
                    "failures": e.failures,
                    "retries": e.retries,
                    "error": e.error,
                    "failed": e.failed,
                }
                for e in self.endpoints
            ],
        }
