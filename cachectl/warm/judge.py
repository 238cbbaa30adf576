"""A finished run's records -> its WarmReport: endpoint results, summary, threshold verdicts."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from cachectl.config import redact_url
from cachectl.warm.histogram import LatencyHistogram
from cachectl.warm.record import EndpointRecord, Tally
from cachectl.warm.report import EndpointResult, Summary, Threshold, WarmReport
from cachectl.warm.targets import Target
from cachectl.warm.verdict import HIT


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 3)


def _shown_url(url: str) -> str:
    # A password in the URL's userinfo stays out of reports.
    return redact_url(url) if "@" in url else url


def _endpoint(target: Target, record: EndpointRecord) -> EndpointResult:
    cold, warm = _ms(record.cold_seconds), _ms(record.warm_seconds)
    return EndpointResult(
        method=target.method,
        url=_shown_url(target.url),
        source=target.source,
        variant=target.variant,
        status=record.status,
        cold_ms=cold,
        warm_ms=warm,
        # A pass-1 hit was not cold, and a failed endpoint was not served: no speedup is
        # claimed from either.
        speedup=round(cold / warm, 2)
        if cold is not None and warm and record.cold_cache != HIT and not record.failures
        else None,
        cache=record.cache,
        cold_cache=record.cold_cache,
        hits=record.hits,
        failures=record.failures,
        retries=record.retries,
        error=record.error,
    )


def _percentile_ms(histogram: LatencyHistogram, percent: float) -> float | None:
    return _ms(histogram.percentile(percent))


def check_thresholds(
    summary: Summary, max_p95_ms: float | None, min_hit_ratio: float | None
) -> tuple[Threshold, ...]:
    """The --max-p95 and --min-hit-ratio verdicts for a summary (only those that were set)."""
    checks: list[Threshold] = []
    if max_p95_ms is not None:
        p95 = summary.p95_ms
        passed = p95 is not None and p95 <= max_p95_ms
        shown = "no measured response" if p95 is None else f"{p95:g} ms"
        checks.append(
            Threshold(
                "max_p95_ms",
                max_p95_ms,
                p95,
                passed,
                f"p95 {shown} is within {max_p95_ms:g} ms"
                if passed
                else f"p95 {shown} exceeds the limit of {max_p95_ms:g} ms",
            )
        )
    if min_hit_ratio is not None:
        ratio = summary.hit_ratio
        passed = ratio is not None and ratio >= min_hit_ratio
        shown = "n/a" if ratio is None else f"{ratio:.1%}"
        checks.append(
            Threshold(
                "min_hit_ratio",
                min_hit_ratio,
                ratio,
                passed,
                f"hit ratio {shown} meets {min_hit_ratio:.1%}"
                if passed
                else f"hit ratio {shown} is below the minimum of {min_hit_ratio:.1%}",
            )
        )
    return tuple(checks)


def build_report(
    targets: Sequence[Target],
    records: Sequence[EndpointRecord],
    tally: Tally,
    *,
    base_url: str | None,
    header_names: Sequence[str],
    passes: int,
    duration_s: float,
    measured_s: float,
    requests_s: float | None = None,
    settle_s: float | None = None,
    stats_delta: Mapping[str, int] | None = None,
    max_p95_ms: float | None = None,
    min_hit_ratio: float | None = None,
    concurrency: int = 1,
    received_bytes: int = 0,
    header_origins: Sequence[str] = (),
    headers_withheld: Mapping[str, int] | None = None,
    interrupted: bool = False,
) -> WarmReport:
    """The report of a finished run from its targets, per-target records and totals."""
    endpoints = tuple(_endpoint(t, r) for t, r in zip(targets, records, strict=True))
    measured = tally.measured
    summary = Summary(
        targets=len(targets),
        passes=passes,
        requests=tally.requests,
        measured_requests=tally.measured_requests,
        p50_ms=_percentile_ms(measured, 50),
        p95_ms=_percentile_ms(measured, 95),
        p99_ms=_percentile_ms(measured, 99),
        max_ms=_ms(measured.max),
        mean_ms=_ms(measured.mean),
        cold_p50_ms=_percentile_ms(tally.cold, 50),
        cold_p95_ms=_percentile_ms(tally.cold, 95),
        status_counts=dict(sorted(tally.statuses.items())),
        hits=tally.hits,
        hit_ratio=tally.hits / tally.measured_requests if tally.measured_requests else None,
        requests_per_s=round(tally.measured_requests / measured_s, 1)
        if tally.measured_requests and measured_s > 0
        else None,
        duration_s=round(duration_s, 3),
        requests_s=round(duration_s if requests_s is None else requests_s, 6),
        measured_s=round(measured_s, 6),
        settle_s=None if settle_s is None else round(settle_s, 3),
        failed_endpoints=sum(1 for e in endpoints if e.failed),
        stats_delta=stats_delta,
        concurrency=concurrency,
        already_cached=sum(1 for r in records if r.cold_cache == HIT),
        received_bytes=received_bytes,
    )
    return WarmReport(
        base_url=None if base_url is None else _shown_url(base_url),
        header_names=tuple(header_names),
        endpoints=endpoints,
        summary=summary,
        thresholds=check_thresholds(summary, max_p95_ms, min_hit_ratio),
        header_origins=tuple(header_origins),
        headers_withheld=dict(headers_withheld or {}),
        interrupted=interrupted,
    )
