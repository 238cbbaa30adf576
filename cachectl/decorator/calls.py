"""What a decorated call needs, for both wrappers: its key and tags, its cache, whether a
looked-up entry answers it, and the X-Cache status it reports."""

from __future__ import annotations

import contextlib
import inspect
import logging
import time
from collections.abc import Callable, Iterable, Iterator
from contextvars import ContextVar
from typing import Any, TypedDict

from cachectl.api import AsyncEntryStore, Entry, EntryStore, Missing
from cachectl.decorator.flights import AsyncFlights, Flights
from cachectl.errors import ConfigError
from cachectl.keys import bind_arguments, function_key

log = logging.getLogger("cachectl")
KeyTemplate = str | Callable[..., str] | None
TagsFrom = Callable[[Any], Iterable[str]] | None


class CachedOptions(TypedDict, total=False):
    """The keyword options of cachectl.cached, for the methods that pass them on."""

    tags: Iterable[str]
    tags_from: TagsFrom
    key: KeyTemplate
    stale: float | None


#: The cache a function is decorated with: a Cache or an AsyncCache, as api.py sees them.
Store = EntryStore | AsyncEntryStore

# A per-request list the X-Cache middleware installs; decorated calls append HIT or MISS.
_status: ContextVar[list[str] | None] = ContextVar("cachectl_status", default=None)


@contextlib.contextmanager
def track_cache_status() -> Iterator[list[str]]:
    """Collect, for the duration of the block, whether each @cached call was a HIT or a MISS."""
    seen: list[str] = []
    token = _status.set(seen)
    try:
        yield seen
    finally:
        _status.reset(token)


def note(status: str) -> None:
    """Report a call's HIT or MISS to the block tracking them, if any."""
    seen = _status.get()
    if seen is not None:
        seen.append(status)


class KeyMaker:
    """Builds a call's key and tags from its arguments."""

    def __init__(
        self,
        func: Callable[..., Any],
        prefix: str,
        key: KeyTemplate,
        tags: Iterable[str],
        tags_from: TagsFrom,
    ) -> None:
        self.signature = inspect.signature(func)
        params = list(self.signature.parameters)
        self.skip_first = bool(params) and params[0] in ("self", "cls")
        self.qualname = f"{func.__module__}.{func.__qualname__}"
        self.prefix = prefix
        self.template = key
        if isinstance(tags, str):
            raise ConfigError("tags is a sequence of strings; wrap a single tag in a tuple")
        self.tags = tuple(tags)
        for tag in self.tags:
            if not isinstance(tag, str):
                raise ConfigError(f"tags are strings (templates), not {type(tag).__name__}")
        self.tags_from = tags_from

    def arguments(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
        return bind_arguments(self.signature, args, kwargs, self.skip_first)

    def key(self, arguments: dict[str, Any]) -> str:
        return function_key(self.prefix, self.qualname, arguments, self.template)

    def key_of(self, *args: Any, **kwargs: Any) -> str:
        """The key of a call with these arguments."""
        return self.key(self.arguments(args, kwargs))

    def tag_list(self, arguments: dict[str, Any], result: Any) -> list[str]:
        try:
            tags = [t.format(**arguments) for t in self.tags]
        except (KeyError, IndexError) as exc:
            raise ConfigError(f"a tag template names an unknown argument: {exc}") from None
        if self.tags_from is not None:
            tags.extend(self.tags_from(result))
        return tags


#: Where a function decorated without a cache finds one: cachectl.default registers its two
#: default caches here when imported (cachectl.cached is exported from there), so that the
#: decorator depends on the protocol in cachectl.api only.
_defaults: list[Callable[[bool], EntryStore | AsyncEntryStore]] = []


def use_default_caches(source: Callable[[bool], EntryStore | AsyncEntryStore]) -> None:
    """Functions decorated without a cache ask source(asynchronous) for one at each call."""
    _defaults[:] = [source]


def is_async(cache: EntryStore | AsyncEntryStore) -> bool:
    """Whether cache is an asyncio cache."""
    return inspect.iscoroutinefunction(cache.lookup)


def store_for(bound: Store | None, asynchronous: bool, qualname: str) -> Any:
    """The cache a call of qualname uses: the one it was decorated with, else the default of
    its kind; a cache of the other kind is a ConfigError."""
    if bound is None:
        if not _defaults:
            raise ConfigError("no default cache: import cachectl.default, or pass cache=")
        return _defaults[0](asynchronous)
    if is_async(bound) != asynchronous:
        wanted = "an AsyncCache, not a Cache" if asynchronous else "a Cache, not an AsyncCache"
        kind = "a coroutine function" if asynchronous else "a plain function"
        raise ConfigError(f"{qualname} is {kind}: cache it with {wanted}")
    return bound


def waited_too_long(qualname: str, seconds: float) -> None:
    """Log that a caller gave up waiting for the caller computing the same call."""
    log.warning(
        "cachectl: %s: no result from the caller computing it after %.1f s; computing it here",
        qualname,
        seconds,
    )


def now_ms() -> int:
    return int(time.time() * 1000)


def fresh(found: Entry | Missing) -> bool:
    """Whether a looked-up entry is there and fresh (not stale)."""
    return not isinstance(found, Missing) and (found[1] is None or now_ms() < found[1])


def serves(found: Entry | Missing, flights: Flights | AsyncFlights, key: str) -> bool:
    """Whether a looked-up entry answers the call: fresh, or stale while another caller of this
    process recomputes it."""
    if isinstance(found, Missing):
        return False
    fresh_until = found[1]
    return fresh_until is None or now_ms() < fresh_until or flights.busy(key)
