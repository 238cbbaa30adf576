"""OpenTelemetry (cachectl.otel.instrument): spans and metrics read with the SDK's in-memory
exporters, on both faces, the embedded store and a real redis-server; the fallback named as
the tier that served; nothing changed for a cache that is not instrumented."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from opentelemetry import trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

from cachectl import AsyncCache, Cache
from cachectl.otel import instrument, uninstrument
from cachectl.testing import PATIENT
from tests.servers import free_port

pytestmark = pytest.mark.usefixtures("watchdog")


@dataclass
class Otel:
    """An SDK tracer and meter provider whose spans and metrics stay in memory."""

    tracer_provider: TracerProvider
    spans_exporter: InMemorySpanExporter
    meter_provider: MeterProvider
    reader: InMemoryMetricReader

    def spans(self) -> list[ReadableSpan]:
        return list(self.spans_exporter.get_finished_spans())

    def named(self, name: str) -> list[ReadableSpan]:
        return [span for span in self.spans() if span.name == name]

    def metrics(self) -> dict[str, list[Any]]:
        """Data points by metric name."""
        data = self.reader.get_metrics_data()
        out: dict[str, list[Any]] = {}
        for resource in data.resource_metrics if data is not None else ():
            for scope in resource.scope_metrics:
                for metric in scope.metrics:
                    out.setdefault(metric.name, []).extend(metric.data.data_points)
        return out

    def instrument(self, cache: Any) -> Any:
        return instrument(
            cache, tracer_provider=self.tracer_provider, meter_provider=self.meter_provider
        )


@pytest.fixture
def otel() -> Iterator[Otel]:
    exporter = InMemorySpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
    reader = InMemoryMetricReader()
    meter_provider = MeterProvider(metric_readers=[reader])
    yield Otel(tracer_provider, exporter, meter_provider, reader)
    meter_provider.shutdown()
    tracer_provider.shutdown()


def _attributes(span: ReadableSpan) -> dict[str, Any]:
    return dict(span.attributes or {})


def test_sync_calls_are_spans_with_prefix_hit_and_tier(
    otel: Otel, backend_url: str, namespace: str
) -> None:
    tier = "memory" if backend_url == "memory://" else "redis"
    with otel.instrument(Cache(backend_url, namespace=namespace, **PATIENT)) as cache:
        assert cache.get("product:1") is None
        cache.set("product:1", {"name": "lamp"}, ttl=60, tags=("catalog",))
        assert cache.get("product:1") == {"name": "lamp"}
        assert "product:1" in cache
        assert cache.get_many(["product:1", "product:2"]) == {"product:1": {"name": "lamp"}}
        cache.set_many({"user:1": 1, "user:2": 2})
        assert cache.delete("user:1", "user:2") == 2
        assert cache.invalidate_tag("catalog") == 1
    gets = otel.named("cachectl.get")
    assert [_attributes(s)["cachectl.hit"] for s in gets] == [False, True, True]
    for span in gets:
        assert _attributes(span) == {
            "cachectl.namespace": namespace,
            "cachectl.operation": "get",
            "cachectl.prefix": "product",
            "cachectl.hit": _attributes(span)["cachectl.hit"],
            "cachectl.tier": tier,
        }
        assert span.kind == trace.SpanKind.INTERNAL and span.status.is_ok
    (many,) = otel.named("cachectl.get_many")
    assert _attributes(many)["cachectl.hits"] == 1 and _attributes(many)["cachectl.keys"] == 2
    (stored,) = otel.named("cachectl.set")
    assert _attributes(stored)["cachectl.prefix"] == "product"
    assert _attributes(stored)["cachectl.tier"] == tier
    (tagged,) = otel.named("cachectl.invalidate_tag")
    assert "cachectl.prefix" not in _attributes(tagged)
    assert {s.name for s in otel.spans()} >= {"cachectl.set_many", "cachectl.delete"}
    # Key names are never recorded.
    assert not any("product:1" in str(s.attributes) for s in otel.spans())


async def test_asyncio_calls_are_spans(otel: Otel, backend_url: str, namespace: str) -> None:
    tier = "memory" if backend_url == "memory://" else "redis"
    cache = otel.instrument(AsyncCache(backend_url, namespace=namespace, **PATIENT))
    async with cache:
        assert await cache.get("a:1") is None
        await cache.set("a:1", 1)
        assert await cache.incr("a:1", 2) == 3
        assert await cache.get("a:1") == 3
        assert await cache.get_many(["a:1", "b:1"]) == {"a:1": 3}
        assert await cache.invalidate_prefix("a") == 1
    names = [s.name for s in otel.spans()]
    assert names == [
        "cachectl.get",
        "cachectl.set",
        "cachectl.incr",
        "cachectl.get",
        "cachectl.get_many",
        "cachectl.invalidate_prefix",
    ]
    assert [_attributes(s).get("cachectl.hit") for s in otel.spans()][:4] == [
        False,
        None,
        None,
        True,
    ]
    assert all(_attributes(s)["cachectl.tier"] == tier for s in otel.spans())
    assert _attributes(otel.spans()[-1])["cachectl.prefix"] == "a"
    assert "cachectl.prefix" not in _attributes(otel.named("cachectl.get_many")[0])  # a and b


@pytest.mark.parametrize("face", ["sync", "async"])
async def test_the_fallback_is_named_as_the_tier(otel: Otel, namespace: str, face: str) -> None:
    """Redis unreachable: the breaker's in-memory fallback served, and the span says so."""
    url = f"redis://127.0.0.1:{free_port()}/0"
    options = {"failure_threshold": 1, "socket_timeout": 0.2, "connect_timeout": 0.2}
    if face == "sync":
        with otel.instrument(Cache(url, namespace=namespace, **options)) as cache:
            cache.set("k:1", 1)
            assert cache.get("k:1") == 1
            assert cache.breaker_state == "open"
    else:
        async with otel.instrument(AsyncCache(url, namespace=namespace, **options)) as acache:
            await acache.set("k:1", 1)
            assert await acache.get("k:1") == 1
    spans = otel.spans()
    assert [s.name for s in spans] == ["cachectl.set", "cachectl.get"]
    assert [_attributes(s)["cachectl.tier"] for s in spans] == ["fallback", "fallback"]
    assert _attributes(spans[1])["cachectl.hit"] is True


def test_a_call_is_the_current_span_and_nests(otel: Otel, namespace: str) -> None:
    tracer = otel.tracer_provider.get_tracer("test")
    seen: list[str] = []

    def load() -> int:
        seen.append(getattr(trace.get_current_span(), "name", ""))
        return 7

    with otel.instrument(Cache("memory://", namespace=namespace)) as cache:

        @cache.cached(ttl=60, prefix="report")
        def report(region: str) -> str:
            return f"report {region}"

        with tracer.start_as_current_span("request"):
            assert cache.get_or_set("config", load) == 7
            assert report("eu") == report("eu") == "report eu"
    assert seen == ["cachectl.get_or_set"]  # the default is computed inside the call's span
    by_name = {s.name: s for s in otel.spans()}
    request = by_name["request"]
    outer = by_name["cachectl.get_or_set"]
    assert outer.parent is not None and outer.parent.span_id == request.context.span_id
    children = [s for s in otel.spans() if s.parent and s.parent.span_id == outer.context.span_id]
    assert [s.name for s in children] == ["cachectl.get", "cachectl.add"]
    decorated = [
        (s.name, _attributes(s).get("cachectl.hit"))
        for s in otel.spans()
        if _attributes(s).get("cachectl.prefix") == "report"
    ]
    assert decorated == [("cachectl.get", False), ("cachectl.set", None), ("cachectl.get", True)]


def test_an_error_is_recorded_on_its_span(otel: Otel, namespace: str) -> None:
    cache = otel.instrument(Cache("memory://", namespace=namespace))
    with cache, pytest.raises(ValueError):
        cache.incr("missing")
    (span,) = otel.named("cachectl.incr")
    assert span.status.status_code is StatusCode.ERROR
    assert [event.name for event in span.events] == ["exception"]


def test_the_counters_are_metrics(otel: Otel, backend_url: str, namespace: str) -> None:
    with otel.instrument(Cache(backend_url, namespace=namespace, **PATIENT)) as cache:
        for i in range(3):
            cache.set(f"p:{i}", i)
        for i in range(5):
            cache.get(f"p:{i}")
        cache.get("q:1")
        stats = cache.stats()
        metrics = otel.metrics()
    for name in ("hits", "misses", "sets", "errors", "fallback"):
        points = {
            p.attributes["cachectl.prefix"]: p.value
            for p in metrics[f"cachectl.cache.{name}"]
            if p.attributes["cachectl.namespace"] == namespace
        }
        expected = {prefix: getattr(stats[prefix], name) for prefix in ("p", "q")}
        assert points == expected, name
    assert "cachectl.cache.duration" not in metrics  # a call's duration is its span's


def test_uninstrument_restores_the_class_calls(otel: Otel, namespace: str) -> None:
    cache = otel.instrument(Cache("memory://", namespace=namespace))
    assert otel.instrument(cache) is cache  # twice: no second layer
    cache.set("a", 1)
    uninstrument(cache)
    assert not {"get_many", "_lookup", "lookup", "set"} & set(vars(cache))
    cache.get("a")
    cache.set("b", 2)
    assert [s.name for s in otel.spans()] == ["cachectl.set"]
    assert not [
        p
        for p in otel.metrics().get("cachectl.cache.sets", [])
        if p.attributes["cachectl.namespace"] == namespace
    ]
    cache.close()


def test_without_the_extra() -> None:
    """OpenTelemetry not installed: the cache works, and instrument() says what to install."""
    code = (
        "import sys\n"
        "sys.modules['opentelemetry'] = None  # as if not installed: every import of it fails\n"
        "from cachectl import Cache, ConfigError\n"
        "from cachectl.otel import instrument\n"
        "with Cache('memory://') as c:\n"
        "    c.set('a', 1)\n"
        "    assert c.get('a') == 1\n"
        "    try:\n"
        "        instrument(c)\n"
        "    except ConfigError as exc:\n"
        "        print(exc)\n"
        "    assert c.get('a') == 1 and 'get' not in vars(c)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    assert "pip install 'cachectl-redis[otel]'" in done.stdout


def test_a_near_cache_hit_is_named_as_the_tier(otel: Otel, redis_url: str, namespace: str) -> None:
    with otel.instrument(
        Cache(redis_url, namespace=namespace, near_cache=True, **PATIENT)
    ) as cache:
        cache.set("product:1", {"name": "lamp"})
        deadline = time.monotonic() + 10
        while cache.keys.full("product:1") not in cache.near.entries:
            assert cache.get("product:1") == {"name": "lamp"}
            assert time.monotonic() < deadline
            time.sleep(0.01)
        otel.spans_exporter.clear()
        assert cache.get("product:1") == {"name": "lamp"}
    (get,) = otel.named("cachectl.get")
    assert _attributes(get)["cachectl.tier"] == "near"
    assert "cachectl.cache.near" in otel.metrics()
