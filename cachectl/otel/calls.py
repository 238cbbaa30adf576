"""What both faces' wrappers share: a traced call, the tier that served it, and the metrics.

No I/O here; imported only by instrument(), so cachectl runs without OpenTelemetry installed.
"""

from __future__ import annotations

import contextlib
import functools
import threading
import weakref
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

from opentelemetry import metrics, trace
from opentelemetry.metrics import CallbackOptions, Observation
from opentelemetry.trace import Span, SpanKind

from cachectl import __version__
from cachectl.cache.helpers import prefix_of, shared_prefix
from cachectl.keys import Key
from cachectl.stats import COUNTERS, OTHER, Counters

if TYPE_CHECKING:
    from cachectl.cache.base import CacheState

SCOPE = "cachectl"

#: The values of cachectl.tier.
NEAR, REDIS, FALLBACK, MEMORY = "near", "redis", "fallback", "memory"


def served(counters: Counters) -> tuple[int, ...]:
    """What a call's tier is read from: the counts its tier moves, compared before and after
    (the fallback's, and the near cache's: cache.near)."""
    return (counters.fallback, counters.near)


def served_by(before: tuple[int, ...], after: tuple[int, ...], default: str) -> str:
    """The tier of a call whose counts went from before to after."""
    if after[0] != before[0]:
        return FALLBACK
    return NEAR if after[1] != before[1] else default


class Call:
    """One traced call: what the wrapper learns of its result goes on its span."""

    __slots__ = ("span",)

    def __init__(self, span: Span) -> None:
        self.span = span

    def hit(self, found: bool) -> None:
        """A read of one key found it, or not."""
        self.span.set_attribute("cachectl.hit", found)

    def hits(self, found: int, keys: int) -> None:
        """A read of several keys found some of them."""
        self.span.set_attribute("cachectl.hits", found)
        self.span.set_attribute("cachectl.keys", keys)


class _Instruments:
    """The instruments of one meter provider, shared by every cache instrumented with it:
    observable counters read each collection from the caches' own counters."""

    def __init__(self, meter: metrics.Meter) -> None:
        self.caches: weakref.WeakSet[CacheState] = weakref.WeakSet()
        for name in COUNTERS:
            meter.create_observable_counter(
                f"cachectl.cache.{name}",
                callbacks=[functools.partial(self._observe, name)],
                unit="{call}",
                description=f"Cache {name}, as cachectl stats counts them, per prefix.",
            )

    def _observe(self, name: str, options: CallbackOptions) -> Iterable[Observation]:
        totals: dict[tuple[str, str], int] = {}
        for cache in list(self.caches):
            for prefix, counters in list(cache.recorder.prefixes.items()):
                at = (cache.namespace, prefix)
                totals[at] = totals.get(at, 0) + getattr(counters, name)
        return [
            Observation(value, {"cachectl.namespace": ns, "cachectl.prefix": prefix})
            for (ns, prefix), value in totals.items()
        ]


_providers: weakref.WeakKeyDictionary[Any, _Instruments] = weakref.WeakKeyDictionary()
_providers_lock = threading.Lock()


def _instruments(meter_provider: Any) -> _Instruments:
    provider = meter_provider if meter_provider is not None else metrics.get_meter_provider()
    with _providers_lock:
        found = _providers.get(provider)
        if found is None:
            found = _providers[provider] = _Instruments(
                metrics.get_meter(SCOPE, __version__, meter_provider=provider)
            )
        return found


class Telemetry:
    """The tracer and the instruments of one instrumented cache, and the names it wrapped."""

    def __init__(self, cache: CacheState, tracer_provider: Any, meter_provider: Any) -> None:
        self.cache = cache
        self.tracer = trace.get_tracer(SCOPE, __version__, tracer_provider=tracer_provider)
        self.instruments = _instruments(meter_provider)
        self.instruments.caches.add(cache)
        self.base = {"cachectl.namespace": cache.namespace}
        self.tier = MEMORY if cache.config.is_memory else REDIS
        self.wrapped: list[str] = []

    def close(self) -> None:
        """Stop publishing the cache's counters."""
        self.instruments.caches.discard(self.cache)

    def _label(self, prefix: str) -> tuple[str, Counters]:
        """A prefix as the stats count it (bounded: OTHER past their limits), and its counters."""
        recorder = self.cache.recorder
        counters = recorder.counters(prefix)
        return (prefix if recorder.prefixes.get(prefix) is counters else OTHER), counters

    def _everything(self) -> Counters:
        """Counters summed over every prefix, for a call that names no key."""
        total = Counters()
        total.fallback = sum(c.fallback for c in list(self.cache.recorder.prefixes.values()))
        return total

    @contextlib.contextmanager
    def call(self, operation: str, keys: Iterable[Key] | Key | None = None) -> Iterator[Call]:
        """A span, the current one, for one call of operation on keys: one key, several
        (their shared prefix, if any), or none (a selection)."""
        attributes: dict[str, Any] = {**self.base, "cachectl.operation": operation}
        counters: Counters | None = None
        if isinstance(keys, str | bytes):
            attributes["cachectl.prefix"], counters = self._label(prefix_of(keys))
        elif keys is not None:
            listed = list(keys)
            if listed:
                shared = shared_prefix(listed)
                label, counters = self._label(prefix_of(listed[0]))
                if shared is not None:
                    attributes["cachectl.prefix"] = label
        before = served(counters if counters is not None else self._everything())
        with self.tracer.start_as_current_span(
            f"cachectl.{operation}", kind=SpanKind.INTERNAL, attributes=attributes
        ) as span:
            try:
                yield Call(span)
            finally:
                after = served(counters if counters is not None else self._everything())
                span.set_attribute("cachectl.tier", served_by(before, after, self.tier))
