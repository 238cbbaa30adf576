"""What instrumenting a cache costs per call (cachectl.otel.instrument), and what it does not.

    python bench/bench_otel.py [--seconds 0.3] [--rounds 9]

Two caches on the embedded store, one instrumented with the OpenTelemetry SDK (spans to a
processor that drops them, metrics to an in-memory reader), the other not; their get hit,
get miss and set take turns for several rounds, each keeping its best. The cache that is not
instrumented runs the class's own code (instrument() shadows methods on the instance only), so
its figures are the library's; bench_core.py --against compares them with another checkout.
"""

from __future__ import annotations

import argparse
from typing import Any

from _timing import per_call
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult

from cachectl import Cache
from cachectl.otel import instrument


class Dropped(SpanExporter):
    """Takes spans and keeps none: the cost measured is cachectl's and the SDK's, not I/O."""

    def export(self, spans: Any) -> SpanExportResult:
        return SpanExportResult.SUCCESS


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=0.3)
    parser.add_argument("--rounds", type=int, default=9)
    args = parser.parse_args()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(Dropped()))
    meter_provider = MeterProvider(metric_readers=[InMemoryMetricReader()])
    plain = Cache("memory://", namespace="bench")
    traced = instrument(
        Cache("memory://", namespace="bench"),
        tracer_provider=tracer_provider,
        meter_provider=meter_provider,
    )
    for cache in (plain, traced):
        cache.set("item:1", {"n": 1})
    paths = {
        "get hit": lambda c: lambda: c.get("item:1"),
        "get miss": lambda c: lambda: c.get("item:2"),
        "set": lambda c: lambda: c.set("item:3", 3),
    }
    print(f"memory://, {args.rounds} alternating rounds of {args.seconds} s (best of each)")
    print(f"  {'path':<10} {'plain':>9} {'instrumented':>13} {'difference':>11}")
    for name, make in paths.items():
        best = {"plain": float("inf"), "traced": float("inf")}
        for _ in range(args.rounds):
            for label, cache in (("plain", plain), ("traced", traced)):
                best[label] = min(best[label], per_call(make(cache), args.seconds))
        plain_us, traced_us = best["plain"] * 1e6, best["traced"] * 1e6
        print(f"  {name:<10} {plain_us:8.2f}µs {traced_us:12.2f}µs {traced_us - plain_us:+10.2f}µs")
    plain.close()
    traced.close()


if __name__ == "__main__":
    main()
