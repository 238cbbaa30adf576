"""OpenTelemetry for a cache: spans for its calls and its counters as metrics (opt-in).

    from cachectl.otel import instrument
    instrument(cache)  # a Cache or an AsyncCache; the global providers unless given

Each call of the instrumented cache is a span named `cachectl.<operation>` (get, get_many, set,
set_many, add, incr, touch, ttl, delete, invalidate_prefix, invalidate_pattern, invalidate_tag,
clear, get_or_set; a decorated function's read is a get, its write a set), the current span
while the call runs, so redis-py's own spans nest under it. Its attributes:

    cachectl.namespace   the cache's namespace
    cachectl.operation   the operation (as in the span's name)
    cachectl.prefix      the key's first segment, bounded as the stats bound it
    cachectl.hit         reads of one key: whether it was found
    cachectl.hits        get_many: how many of cachectl.keys were found
    cachectl.tier        what served the call: "redis", "fallback" (the breaker's in-memory
                         store), "near" (the near cache) or "memory" (the embedded store)

Key names are never recorded. The counters `cachectl stats` shows (hits, misses, sets, errors,
fallback, per namespace and prefix) are observable counters `cachectl.cache.<counter>`, read
from the cache's own figures at each collection: they cost a call nothing (and `stats=False`
leaves hits, misses and sets at zero). A call's duration is its span's.

Only the instrumented instance changes: its calls are replaced on the instance, so a cache that
is not instrumented runs the very code it runs without the extra (see the README for the
measurement). The extra `otel` installs `opentelemetry-api`; an SDK and an exporter are the
application's choice.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TypeVar

from cachectl.errors import ConfigError

if TYPE_CHECKING:
    from cachectl.cache import AsyncCache, Cache

__all__ = ["instrument", "uninstrument"]

C = TypeVar("C", "Cache", "AsyncCache")


def instrument(cache: C, *, tracer_provider: Any = None, meter_provider: Any = None) -> C:
    """Trace cache's calls and publish its counters as metrics; returns cache.

    tracer_provider and meter_provider default to OpenTelemetry's global ones. Instrumenting
    an instrumented cache again changes nothing.
    """
    try:
        from cachectl.otel import _async, _sync
        from cachectl.otel.calls import Telemetry
    except ImportError as exc:  # the extra is not installed
        raise ConfigError(
            f"instrument() needs OpenTelemetry's API ({exc}): pip install 'cachectl[otel]'"
        ) from None
    from cachectl.cache import AsyncCache, Cache

    if "_telemetry" in vars(cache):
        return cache
    telemetry = Telemetry(cache, tracer_provider, meter_provider)
    if isinstance(cache, AsyncCache):
        _async.wrap(cache, telemetry)
    elif isinstance(cache, Cache):
        _sync.wrap(cache, telemetry)
    else:
        raise TypeError(f"instrument() takes a Cache or an AsyncCache, not {type(cache).__name__}")
    vars(cache)["_telemetry"] = telemetry
    return cache


def uninstrument(cache: Cache | AsyncCache) -> None:
    """Undo instrument(cache): its calls are the class's again, its counters unpublished."""
    telemetry = vars(cache).pop("_telemetry", None)
    if telemetry is None:
        return
    for name in telemetry.wrapped:
        vars(cache).pop(name, None)
    telemetry.close()
