"""The traced calls of an instrumented AsyncCache, written once: the source of both faces.

scripts/unasync.py generates the synchronous face (_sync.py) from this file. Each traced call
shadows one method on the instance (an instance attribute), so the class, and so every cache
that is not instrumented, runs unchanged. What a span records is cachectl.otel.calls'.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from cachectl.api import MISS, Entry, Missing
from cachectl.cache import AsyncCache
from cachectl.keys import Key
from cachectl.otel.calls import Telemetry

#: The calls of one key, traced under the operation's name.
KEYED = {
    "set": "set",
    "store_entry": "set",  # a decorated function's write
    "add": "add",
    "incr": "incr",  # decr is an incr
    "touch": "touch",
    "ttl": "ttl",
    "get_or_set": "get_or_set",
    "invalidate_prefix": "invalidate_prefix",
}
#: The calls that name no key.
UNKEYED = ("invalidate_pattern", "invalidate_tag", "clear")


def wrap(cache: AsyncCache, telemetry: Telemetry) -> None:
    """Shadow cache's calls with traced ones (telemetry.wrapped names them)."""
    call = telemetry.call

    def shadow(name: str, traced: Callable[..., Any]) -> None:
        vars(cache)[name] = functools.wraps(getattr(cache, name))(traced)
        telemetry.wrapped.append(name)

    lookup = cache._lookup

    async def traced_lookup(key: Key) -> Entry | Missing:
        with call("get", key) as span:
            found = await lookup(key)
            span.hit(found is not MISS)
            return found

    # get, has and get_or_set read through _lookup; a decorated function through lookup.
    shadow("_lookup", traced_lookup)
    shadow("lookup", traced_lookup)

    get_many = cache.get_many

    async def traced_get_many(keys: Iterable[Key]) -> dict[Key, Any]:
        listed = keys if type(keys) is list else list(keys)
        with call("get_many", listed) as span:
            found = await get_many(listed)
            span.hits(len(found), len(listed))
            return found

    shadow("get_many", traced_get_many)

    set_many = cache.set_many

    async def traced_set_many(mapping: Mapping[Key, Any], *args: Any, **kwargs: Any) -> None:
        with call("set_many", list(mapping)):
            await set_many(mapping, *args, **kwargs)

    shadow("set_many", traced_set_many)

    delete = cache.delete

    async def traced_delete(*keys: Key) -> int:
        with call("delete", keys):
            return await delete(*keys)

    shadow("delete", traced_delete)  # delete_many is a delete

    for name, operation in KEYED.items():
        shadow(name, _keyed(getattr(cache, name), operation, telemetry))
    for name in UNKEYED:
        shadow(name, _unkeyed(getattr(cache, name), name, telemetry))


def _keyed(method: Callable[..., Any], operation: str, telemetry: Telemetry) -> Any:
    async def traced(key: Key, *args: Any, **kwargs: Any) -> Any:
        with telemetry.call(operation, key):
            return await method(key, *args, **kwargs)

    return traced


def _unkeyed(method: Callable[..., Any], operation: str, telemetry: Telemetry) -> Any:
    async def traced(*args: Any, **kwargs: Any) -> Any:
        with telemetry.call(operation):
            return await method(*args, **kwargs)

    return traced
