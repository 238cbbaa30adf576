"""Bookkeeping of a warm run in fixed memory: a small record per target, histograms for all."""

from __future__ import annotations

import random
import statistics
from collections import Counter

from cachectl.warm.histogram import LatencyHistogram
from cachectl.warm.verdict import HIT, MISS, UNKNOWN

RESERVOIR_SIZE = 15  # measured latencies kept per target: its warm p50 is exact up to 15 passes


class EndpointRecord:
    """What one target did across the passes, in a few fields whatever the number of passes."""

    __slots__ = (
        "cache",
        "cold_cache",
        "cold_seconds",
        "error",
        "failures",
        "hits",
        "measured",
        "retries",
        "samples",
        "status",
    )

    def __init__(self) -> None:
        self.cold_seconds: float | None = None
        self.cold_cache = UNKNOWN
        self.cache = UNKNOWN
        self.status: int | None = None
        self.error: str | None = None
        self.failures = 0
        self.retries = 0
        self.hits = 0
        self.measured = 0
        self.samples: list[float] = []

    @property
    def warm_seconds(self) -> float | None:
        """The median measured latency (over a uniform sample once passes exceed the reservoir)."""
        return statistics.median(self.samples) if self.samples else None


class Tally:
    """Run-wide totals; every finished request goes through response() or failure()."""

    def __init__(self, seed: int | None = None) -> None:
        self.cold = LatencyHistogram()
        self.measured = LatencyHistogram()
        self.statuses: Counter[str] = Counter()
        self.requests = 0
        self.measured_requests = 0
        self.hits = 0
        self.responses = 0
        self.connect_failures = 0
        # Responses whose headers said HIT or MISS, in the warming pass and in the measured
        # ones: each was a cache lookup the application's published stats will count.
        self.judged_cold = 0
        self.judged_measured = 0
        self._random = random.Random(seed)

    def response(
        self, record: EndpointRecord, seconds: float, status: int, verdict: str, measured: bool
    ) -> None:
        """Count a response (after retries) of a target in the warming or a measured pass."""
        self.requests += 1
        self.responses += 1
        self.statuses[str(status)] += 1
        record.status = status
        if not 200 <= status < 300:
            # Not the content that was to be cached: a redirect, an error, a missing page.
            record.failures += 1
            record.error = f"HTTP {status}"
        if verdict in (HIT, MISS):
            if measured:
                self.judged_measured += 1
            else:
                self.judged_cold += 1
        if not measured:
            self.cold.record(seconds)
            record.cold_seconds = seconds
            record.cold_cache = record.cache = verdict
            return
        self.measured.record(seconds)
        self.measured_requests += 1
        record.cache = verdict
        if verdict == HIT:
            self.hits += 1
            record.hits += 1
        record.measured += 1
        if len(record.samples) < RESERVOIR_SIZE:
            record.samples.append(seconds)
        else:
            slot = self._random.randrange(record.measured)
            if slot < RESERVOIR_SIZE:
                record.samples[slot] = seconds

    def failure(self, record: EndpointRecord, error: str, measured: bool, connect: bool) -> None:
        """Count a request that got no response even after its retries."""
        self.requests += 1
        self.statuses["error"] += 1
        if measured:
            self.measured_requests += 1
        if connect:
            self.connect_failures += 1
        record.status = None
        record.failures += 1
        record.error = error
