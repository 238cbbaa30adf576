"""The @cached decorator: stable keys, single flight, stale-while-revalidate, None cached.

Works on def and async def functions and methods; bound to a cache (cache.cached) or to the
process-wide default (cachectl.cached, see cachectl.default). A result over max_value_size is
returned to the caller uncached (the cache removed the old entry, counted and logged the
refusal); a result of a type msgpack cannot store still raises, a bug rather than a size.

Rooms: calls.py (a call's key and tags, its cache, whether an entry answers it, the X-Cache
status), flights.py (single flight, for threads and for tasks), handles.py (.key and
.invalidate, bound for methods), _async.py (the wrapper, written once) and _sync.py (the
wrapper of plain functions, generated from _async.py by scripts/unasync.py).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable
from typing import Any, ParamSpec, TypeVar

from cachectl.api import MAX_TTL, AsyncEntryStore, EntryStore, valid_seconds
from cachectl.decorator._async import async_wrapper
from cachectl.decorator._sync import sync_wrapper
from cachectl.decorator.calls import (
    CachedOptions,
    KeyMaker,
    KeyTemplate,
    TagsFrom,
    track_cache_status,
    use_default_caches,
)
from cachectl.decorator.handles import AsyncCachedMethod, CachedFunction, CachedMethod
from cachectl.errors import ConfigError

__all__ = [
    "CachedFunction",
    "CachedOptions",
    "KeyTemplate",
    "TagsFrom",
    "cached",
    "track_cache_status",
    "use_default_caches",
]

P = ParamSpec("P")
R = TypeVar("R")


def cached(
    ttl: float | None = None,
    prefix: str = "",
    *,
    tags: Iterable[str] = (),
    tags_from: TagsFrom = None,
    key: KeyTemplate = None,
    stale: float | None = None,
    cache: EntryStore | AsyncEntryStore | None = None,
) -> Callable[[Callable[..., Any]], Any]:
    """Cache a function's results by its arguments.

    ttl: seconds an entry is fresh; prefix: the key's first segment; key: a template such as
    "page:{page}" (or a callable of the arguments) instead of qualname + argument digest;
    tags: templates of tags ("user:{user_id}"); tags_from: a callable of the result giving
    more tags; stale: seconds an expired entry is still served while one caller recomputes it.
    """
    if stale is not None and (ttl is None or not valid_seconds(stale)):
        raise ConfigError(
            f"stale needs a ttl, and is positive seconds up to {MAX_TTL:.0e}, not {stale!r}"
        )

    def decorate(func: Callable[P, R]) -> CachedFunction[P, R]:
        maker = KeyMaker(func, prefix, key, tags, tags_from)
        if inspect.iscoroutinefunction(func):
            wrapper = async_wrapper(func, maker, ttl, stale, cache)
        else:
            wrapper = sync_wrapper(func, maker, ttl, stale, cache)
        if maker.skip_first:
            method = AsyncCachedMethod if inspect.iscoroutinefunction(func) else CachedMethod
            wrapper = method(wrapper)
        handle: CachedFunction[P, R] = wrapper
        return handle

    return decorate
